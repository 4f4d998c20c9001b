import { EventEmitter } from "node:events";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Job, JobQueue } from "../contract/jobs.js";
import type { WebhookOptions } from "../webhooks/dispatcher.js";
import { Lifecycle } from "./lifecycle.js";
import { DEFAULT_RETENTION_MS } from "./record.js";
import { orphanedJobs } from "./redis-orphans.js";
import type { RedisRecords } from "./redis-records.js";
import { redisPorts } from "./redis-store.js";
import type { RedisTurns } from "./redis-turns.js";
import {
  CERTIFY_QUEUE,
  createRedisWorker,
  type RedisWorker,
  type RedisWorkerOptions,
} from "./redis-worker.js";

export interface RedisQueueOptions {
  redisUrl: string;
  /** Key prefix in Redis, the same for the API processes and the workers. Default "dualrs". */
  prefix?: string | undefined;
  /** Run jobs in this process too, with these settings; without it, `dualrs worker` processes do. */
  worker?: Omit<RedisWorkerOptions, "redisUrl" | "prefix" | "webhooks"> | undefined;
  webhooks?: WebhookOptions | undefined;
  /** How long an idempotency key is remembered. Default 24 h. */
  idempotencyTtlMs?: number | undefined;
  /** How long a request holding an idempotency key counts as in flight. Default 30 s. */
  idempotencyLeaseMs?: number | undefined;
  /**
   * How often jobs are handed to BullMQ should no submit or worker have done it, handovers cut short
   * finished, queued records that nothing holds put in their lines, and finished jobs past their
   * retention forgotten. Default 30 s.
   */
  orphanSweepMs?: number | undefined;
  /** Finished jobs are forgotten this long after they end. Default 7 days. */
  retentionMs?: number | undefined;
  /** How old such a record or handover must be (a younger one may be mid-step). Default 30 s. */
  orphanAgeMs?: number | undefined;
  /** Jobs kept waiting on BullMQ, the rest in their tenants' lines (redis-turns.ts). Default 2. */
  readyJobs?: number | undefined;
  /** Tenants' shares of the workers (turns.ts); a tenant not named has weight 1. */
  weights?: Readonly<Record<string, number>> | undefined;
}

/**
 * Jobs on BullMQ: job records and idempotency keys live in Redis, so any number of API processes
 * share them, and `dualrs worker` processes (or a local worker) run the jobs. The lifecycle is
 * lifecycle.ts's, over Redis's ports (redis-store.ts).
 */
export async function createRedisQueue(options: RedisQueueOptions): Promise<JobQueue> {
  const prefix = options.prefix ?? "dualrs";
  // The API fails fast while Redis is away (a 503), rather than holding requests.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  const subscriber = redis.duplicate({ maxRetriesPerRequest: null });
  subscriber.on("error", () => {});
  const queue = new Queue<{ id: string }>(CERTIFY_QUEUE, { connection: redis, prefix });
  queue.on("error", () => {});
  const webhooks = options.webhooks ?? {};
  const finished = new EventEmitter().setMaxListeners(0);
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const { ports, records, turns, deliveries, store } = redisPorts({
    ...options,
    redis,
    prefix,
    queue,
    webhooks,
    retentionMs,
    watch(id, onFinished) {
      finished.on(id, onFinished);
      return () => finished.off(id, onFinished);
    },
  });
  const lifecycle = new Lifecycle(ports);
  await subscriber.subscribe(records.keys.doneChannel);
  subscriber.on("message", (_channel: string, id: string) => finished.emit(id));
  const local: RedisWorker | undefined = options.worker
    ? await createRedisWorker({
        ...options.worker,
        redisUrl: options.redisUrl,
        prefix,
        webhooks,
        readyJobs: options.readyJobs,
      })
    : undefined;
  const sweeper = startSweep(lifecycle, { records, turns, queue, redis }, options);

  return {
    ...lifecycle.shared(),
    ...store.reads(),

    async readiness() {
      if (lifecycle.closing) return { ready: false, detail: "shutting down" };
      return readiness(redis, queue, local);
    },

    async close() {
      if (lifecycle.closing) return;
      lifecycle.closing = true;
      clearInterval(sweeper);
      await local?.close();
      await queue.close();
      await deliveries.close();
      await subscriber.quit().catch(() => {});
      await redis.quit().catch(() => {});
    },
  };
}

/**
 * Every `orphanSweepMs`: finished jobs past their retention forgotten, handovers cut short
 * finished, queued records that nothing holds put in their lines, and jobs handed to BullMQ should
 * no submit or worker have done it. API processes may sweep side by side: each step may be
 * repeated. Workers forget old jobs as they finish new ones; the sweep does it while none finish.
 */
function startSweep(
  lifecycle: Lifecycle,
  {
    records,
    turns,
    queue,
    redis,
  }: { records: RedisRecords; turns: RedisTurns; queue: Queue<{ id: string }>; redis: Redis },
  options: RedisQueueOptions,
): NodeJS.Timeout {
  const minAgeMs = options.orphanAgeMs ?? 30_000;
  const held = async (job: Job) =>
    (await turns.holds(job.owner, job.id)) || (await queue.getJob(job.id)) !== undefined;
  const sweep = async () => {
    await lifecycle.expire().catch(() => {});
    await turns.recover(async (id) => (await records.get(id))?.status === "queued", minAgeMs);
    for (const job of await orphanedJobs(records, held, minAgeMs)) {
      await turns.admit(redis.multi(), job).exec();
    }
    await turns.feed();
  };
  const sweeper = setInterval(() => void sweep().catch(() => {}), options.orphanSweepMs ?? 30_000);
  sweeper.unref();
  return sweeper;
}

/** Redis reachable, the workers BullMQ counts, and the local worker's own readiness if there is one. */
async function readiness(redis: Redis, queue: Queue<{ id: string }>, local: RedisWorker | undefined) {
  try {
    await redis.ping();
  } catch (e) {
    return { ready: false, detail: `Redis unreachable: ${(e as Error).message}` };
  }
  const workers = await queue.getWorkersCount().catch(() => 0);
  const own = local ? await local.readiness() : null;
  const detail = `Redis reachable, ${workers} worker connection(s)${own ? `; local worker: ${own.detail}` : ""}`;
  return { ready: own ? own.ready : true, detail };
}
