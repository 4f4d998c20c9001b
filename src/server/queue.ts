import type { ModelStore } from "../runtime/model-store.js";
import type { ServerConfig } from "./config.js";
import { createEmbeddedQueue } from "./jobs/embedded.js";
import type { JobQueue } from "./jobs/types.js";

/** The queue the configuration selects: BullMQ when REDIS_URL is set, the embedded journaled queue otherwise. */
export async function openQueue(config: ServerConfig, store: ModelStore): Promise<JobQueue> {
  const webhooks = { secret: config.webhookSecret, allowPrivate: config.allowPrivateWebhooks };
  if (config.redisUrl) {
    throw new Error("REDIS_URL: the BullMQ backend is not available in this build");
  }
  // A store that cannot be listed yet is not fatal here: /readyz reports it until it can.
  const warm = config.warm === "all" ? await store.listManifests().catch(() => []) : config.warm;
  return createEmbeddedQueue({
    store,
    dataDir: config.dataDir,
    concurrency: config.workerConcurrency,
    threads: config.threads,
    providers: config.providers,
    warm,
    webhooks,
  });
}
