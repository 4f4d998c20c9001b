import type { ModelStore } from "../runtime/model-store.js";
import type { ServerConfig } from "./config.js";
import type { JobQueue } from "./jobs/types.js";

/** The queue the configuration selects: BullMQ when REDIS_URL is set, the embedded journaled queue otherwise. */
export async function openQueue(config: ServerConfig, store: ModelStore): Promise<JobQueue> {
  void store;
  throw new Error(
    `no queue backend is available yet for ${config.redisUrl ? "REDIS_URL" : "the embedded queue"}`,
  );
}
