import type { Worker, WorkerOptions } from "node:worker_threads";
import { startModuleThread } from "../module-thread.js";

/**
 * Starts a certification thread: thread.ts beside this file from source, and from the tsup build
 * dist/runtime/threads/thread.js (an entry of its own in tsup.config.ts).
 */
export function startThread(options: WorkerOptions, base = import.meta.url): Worker {
  const builds = ["./thread.js", "./runtime/threads/thread.js", "../runtime/threads/thread.js"];
  return startModuleThread(options, base, "./thread.ts", builds, "the certification thread module");
}
