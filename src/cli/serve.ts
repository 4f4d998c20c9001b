import { parseArgs } from "node:util";
import { ConfigEnv, loadConfig, startServer } from "../server/index.js";
import { UsageError } from "./errors.js";

export const serveUsage = `Usage: dualrs serve [options]

Runs the HTTP API. Every option is also an environment variable (--model-store X is MODEL_STORE=X);
defaults: the zoo in models/, the embedded queue journaled in data/, 127.0.0.1:8080.

${Object.entries(ConfigEnv.shape)
  .map(([name, schema]) => `  --${flagOf(name).padEnd(24)} ${name}: ${schema.description ?? ""}`)
  .join("\n")}

SIGTERM or Ctrl-C stops accepting requests, lets running jobs finish or hands them back, and exits.
`;

function flagOf(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

/** `dualrs serve`: starts the API and runs until SIGTERM or SIGINT. */
export async function serveCommand(argv: string[], signal: AbortSignal): Promise<void> {
  const names = Object.keys(ConfigEnv.shape);
  const { values } = (() => {
    try {
      return parseArgs({
        args: argv,
        options: Object.fromEntries(names.map((n) => [flagOf(n), { type: "string" as const }])),
        strict: true,
        allowPositionals: false,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  })();
  const flags = Object.fromEntries(names.map((n) => [n, values[flagOf(n)] as string | undefined]));
  const config = loadConfig(process.env, flags);
  const server = await startServer({ config });
  process.stderr.write(`dualrs: listening on ${server.url} (API reference at ${server.url}/docs)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", stop, { once: true });
  });
  process.stderr.write("dualrs: stopping\n");
  await server.close();
}
