import type { Worker, WorkerOptions } from "node:worker_threads";
import { startModuleThread } from "../module-thread.js";

/**
 * Starts the image decoder's thread: worker.ts beside this file from source, and from the tsup build
 * dist/runtime/image/worker.js (an entry of its own in tsup.config.ts).
 */
export function startImageWorker(options: WorkerOptions, base = import.meta.url): Worker {
  const builds = ["./runtime/image/worker.js", "../runtime/image/worker.js", "../../runtime/image/worker.js"];
  return startModuleThread(options, base, "./worker.ts", builds, "the image decoder's thread module");
}
