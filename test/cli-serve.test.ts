import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
let busy: Server;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-cli-serve-"));
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  port = (busy.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => busy.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** `dualrs serve` with its journal in a temporary folder, should it ever get as far as opening one. */
function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npx",
      ["tsx", "src/cli/index.ts", "serve", ...args],
      { cwd: process.cwd(), env: { ...process.env, DATA_DIR: join(dir, "data"), ...env } },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

describe("dualrs serve on a busy port", () => {
  // The port is checked before the models and the queue are loaded, which took many seconds; the
  // timeout is only generous for a loaded machine, where starting tsx alone can take a while.
  it("names the port and how to choose another, with no stack trace", async () => {
    const r = await serve(["--port", String(port)]);
    expect(r.code).toBe(2);
    const line = r.stderr.split("\n").find((l) => l.startsWith("dualrs:"));
    expect(line).toBe(
      `dualrs: PORT ${port} is already in use on 127.0.0.1: stop what listens there, or choose another ` +
        "port with PORT=<port> or dualrs serve --port <port> (0 picks a free one)",
    );
    expect(r.stderr).not.toMatch(/EADDRINUSE|\n\s+at /);
  }, 60_000);

  it("says the same when the port comes from PORT", async () => {
    const r = await serve([], { PORT: String(port) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`dualrs: PORT ${port} is already in use on 127.0.0.1`);
  }, 60_000);
});
