import { createServer } from "node:net";
import { ConfigError } from "./config.js";

/**
 * Fails at once when the configured port is taken: the server binds only after loading models and
 * opening its queue, seconds later, and a bare EADDRINUSE then says nothing of how to pick another.
 */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return; // the system picks a free one
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (e) => reject(portError(e, host, port)));
    probe.listen({ host, port }, () => probe.close(() => resolve()));
  });
}

/** EADDRINUSE as a setting to change, naming the port and how to choose another; other errors as they are. */
export function portError(e: unknown, host: string, port: number): unknown {
  if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") return e;
  return new ConfigError(
    `PORT ${port} is already in use on ${host}: stop what listens there, or choose another port ` +
      `with PORT=<port> or dualrs serve --port <port> (0 picks a free one)`,
  );
}
