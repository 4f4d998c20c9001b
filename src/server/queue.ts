import type { ModelStore } from "../runtime/model-store.js";
import type { ServerConfig } from "./config.js";
import type { JobQueue } from "./contract/jobs.js";
import { createRedisQueue } from "./jobs/bullmq.js";
import { createEmbeddedQueue } from "./jobs/embedded.js";

/**
 * The queue the configuration selects: BullMQ on REDIS_URL (with a local worker unless
 * WORKER_CONCURRENCY is 0, when `dualrs worker` processes take the jobs), or the embedded,
 * journaled queue otherwise.
 */
export async function openQueue(config: ServerConfig, store: ModelStore): Promise<JobQueue> {
  const webhooks = { secret: config.webhookSecret, allowPrivate: config.allowPrivateWebhooks };
  const runs = config.workerConcurrency > 0;
  // A store that cannot be listed yet is not fatal here: /readyz reports it until it can.
  const warm = !runs ? [] : config.warm === "all" ? await store.listManifests().catch(() => []) : config.warm;
  const execution = {
    store,
    concurrency: config.workerConcurrency,
    threads: config.threads,
    providers: config.providers,
    noiseVersion: config.noiseVersion,
    warm,
  };
  if (config.redisUrl) {
    return createRedisQueue({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      worker: runs ? { ...execution, retentionMs: config.jobRetentionMs } : undefined,
      webhooks,
      retentionMs: config.jobRetentionMs,
      weights: config.tenantWeights,
    });
  }
  return createEmbeddedQueue({
    ...execution,
    dataDir: config.dataDir,
    webhooks,
    retentionMs: config.jobRetentionMs,
    weights: config.tenantWeights,
  });
}
