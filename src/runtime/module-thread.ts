import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on a module of this package. From TypeScript source (vitest, tsx) the module
 * is `source` beside `base`, which the thread imports after registering tsx: worker threads ignore
 * `--import` in their execArgv. From the tsup build it is the first of `builds` (paths relative to
 * `base`) that exists, since the calling code may sit in a shared chunk at dist/ or in an entry below.
 */
export function startModuleThread(
  options: WorkerOptions,
  base: string,
  source: string,
  builds: readonly string[],
  what: string,
): Worker {
  if (base.endsWith(".ts")) {
    // The ESM build of tsx's API: its CommonJS build resolves a path that does not exist.
    const tsx = pathToFileURL(
      createRequire(base)
        .resolve("tsx/esm/api")
        .replace(/\.cjs$/, ".mjs"),
    ).href;
    const entry = new URL(source, base).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { ...options, eval: true });
  }
  for (const path of builds) {
    const url = new URL(path, base);
    if (existsSync(fileURLToPath(url))) return new Worker(url, options);
  }
  throw new Error(`cannot find ${what} next to ${fileURLToPath(base)}`);
}
