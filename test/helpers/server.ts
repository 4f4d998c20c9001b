import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localModelStore } from "../../src/runtime/model-store.js";
import { loadConfig, type ServerConfig } from "../../src/server/config.js";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { writeServerZoo } from "./server-zoo.js";

export interface TestServer extends RunningServer {
  dir: string;
  /** fetch against the server: `call("/certify", { method: "POST", json: {...} })`. */
  call(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/** A real server on a loopback port, over a small real zoo built in a temporary folder. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), "dualrs-server-"));
  const zoo = join(dir, "models");
  await writeServerZoo(zoo);
  const config: ServerConfig = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    MODEL_STORE: zoo,
    DATA_DIR: join(dir, "data"),
    PROVIDERS: "cpu",
    RATE_LIMIT: "0",
    // Tests keep jobs running with n up to 1e9, to cancel them or watch them wait.
    MAX_DRAWS: "0",
    // Loading every certifier on start-up is for production; here the first job loads its own.
    WARM: "none",
    ...env,
  });
  const store = localModelStore(zoo);
  const server = await startServer({ config, store });
  return {
    ...server,
    dir,
    call(path, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
      return fetch(`${server.url}${path}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
