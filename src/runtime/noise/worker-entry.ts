import type { Worker, WorkerOptions } from "node:worker_threads";
import { startModuleThread } from "../module-thread.js";

/**
 * Starts the noise thread: worker.ts beside this file from source, and from the tsup build
 * dist/runtime/noise/worker.js (an entry of its own in tsup.config.ts).
 */
export function startNoiseWorker(options: WorkerOptions = {}, base = import.meta.url): Worker {
  const builds = ["./runtime/noise/worker.js", "../runtime/noise/worker.js", "../../runtime/noise/worker.js"];
  return startModuleThread(options, base, "./worker.ts", builds, "the noise thread module");
}
