import { type ChildProcess, spawn } from "node:child_process";

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stderr(): string;
}

/**
 * `dualrs worker` as its own process (node itself, not npx, so that signals reach it), from the
 * TypeScript source or from a build's `cli/index.js`.
 */
export async function startWorkerProcess(
  env: Record<string, string>,
  builtCli?: string,
): Promise<WorkerProcess> {
  const args = builtCli ? [builtCli, "worker"] : ["--import", "tsx", "src/cli/index.ts", "worker"];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PROVIDERS: "cpu", THREADS: "1", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on("data", (d) => {
      stderr += d;
      if (stderr.includes("worker taking jobs")) resolve();
    });
    exited.then((code) => reject(new Error(`dualrs worker exited with ${code}: ${stderr}`)));
  });
  return { child, exited, stderr: () => stderr };
}
