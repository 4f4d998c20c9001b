import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a certification thread. From the tsup build its module is dist/runtime/threads/thread.js (an
 * entry of its own in tsup.config.ts), while this code may sit in a shared chunk at dist/ or in an
 * entry below it. From TypeScript source (vitest, tsx) it is thread.ts beside this file, which the
 * thread imports after registering tsx: worker threads ignore `--import` in their execArgv.
 */
export function startThread(options: WorkerOptions, base = import.meta.url): Worker {
  if (base.endsWith(".ts")) {
    // The ESM build of tsx's API: its CommonJS build resolves a path that does not exist.
    const tsx = pathToFileURL(
      createRequire(base)
        .resolve("tsx/esm/api")
        .replace(/\.cjs$/, ".mjs"),
    ).href;
    const entry = new URL("./thread.ts", base).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { ...options, eval: true });
  }
  for (const path of ["./thread.js", "./runtime/threads/thread.js", "../runtime/threads/thread.js"]) {
    const url = new URL(path, base);
    if (existsSync(fileURLToPath(url))) return new Worker(url, options);
  }
  throw new Error(`cannot find the certification thread module next to ${fileURLToPath(base)}`);
}
