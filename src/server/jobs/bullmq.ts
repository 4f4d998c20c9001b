import { EventEmitter } from "node:events";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { type Job, type JobQueue, type JobStatus, QueueFullError, TERMINAL } from "../contract/jobs.js";
import type { WebhookOptions } from "../webhooks/dispatcher.js";
import { QueueClosedError } from "./errors.js";
import { DEFAULT_RETENTION_MS, newJob } from "./record.js";
import { RedisIdempotency } from "./redis-idempotency.js";
import { orphanedJobs } from "./redis-orphans.js";
import { RedisRecords } from "./redis-records.js";
import { RedisTurns } from "./redis-turns.js";
import { webhookQueue } from "./redis-webhooks.js";
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

const terminal = (s: JobStatus | undefined) => s !== undefined && TERMINAL.includes(s);

/**
 * Jobs on BullMQ: job records and idempotency keys live in Redis, so any number of API processes
 * share them, and `dualrs worker` processes (or a local worker) run the jobs.
 */
export async function createRedisQueue(options: RedisQueueOptions): Promise<JobQueue> {
  const prefix = options.prefix ?? "dualrs";
  // The API fails fast while Redis is away (a 503), rather than holding requests.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  const subscriber = redis.duplicate({ maxRetriesPerRequest: null });
  subscriber.on("error", () => {});
  const records = new RedisRecords(redis, prefix);
  const keys = records.keys;
  const queue = new Queue<{ id: string }>(CERTIFY_QUEUE, { connection: redis, prefix });
  queue.on("error", () => {});
  const webhooks = options.webhooks ?? {};
  const deliveries = webhookQueue(redis, prefix, webhooks);
  const ttl = options.idempotencyTtlMs ?? 24 * 3600_000;
  const idempotency = new RedisIdempotency(redis, keys, ttl, options.idempotencyLeaseMs ?? 30_000);
  const finished = new EventEmitter().setMaxListeners(0);
  await subscriber.subscribe(keys.doneChannel);
  subscriber.on("message", (_channel: string, id: string) => finished.emit(id));
  const turns = new RedisTurns(redis, prefix, queue, options.readyJobs, options.weights);
  const local: RedisWorker | undefined = options.worker
    ? await createRedisWorker({
        ...options.worker,
        redisUrl: options.redisUrl,
        prefix,
        webhooks,
        readyJobs: options.readyJobs,
      })
    : undefined;
  let closing = false;

  const minAgeMs = options.orphanAgeMs ?? 30_000;
  // API processes may sweep side by side: each step may be repeated. Workers forget old jobs as
  // they finish new ones; the sweep does it while none finish.
  const sweep = async () => {
    await records.expire(Date.now() - (options.retentionMs ?? DEFAULT_RETENTION_MS)).catch(() => 0);
    await turns.recover(async (id) => (await records.get(id))?.status === "queued", minAgeMs);
    const held = async (job: Job) =>
      (await turns.holds(job.owner, job.id)) || (await queue.getJob(job.id)) !== undefined;
    for (const job of await orphanedJobs(records, held, minAgeMs)) {
      await turns.admit(redis.multi(), job).exec();
    }
    await turns.feed();
  };
  /** Takes a queued job out of its line, or off BullMQ; false when a worker has it already. */
  const withdraw = async (job: Job) => {
    if (await turns.withdraw(job.owner, job.id)) return true;
    if ((await queue.remove(job.id)) !== 1) return false;
    await turns.taken(job.id);
    return true;
  };
  const sweeper = setInterval(() => void sweep().catch(() => {}), options.orphanSweepMs ?? 30_000);
  sweeper.unref();

  return {
    async submit(spec, { owner, idempotencyKey, fingerprint, maxQueued }) {
      if (closing) throw new QueueClosedError();
      const job = newJob(spec, owner);
      if (idempotencyKey !== undefined) {
        const seen = await idempotency.claim(idempotencyKey, fingerprint, job.id, (id) => records.get(id));
        if (seen) return { job: seen, replayed: true };
      }
      try {
        // The cap is checked in the transaction that records the job, and the line takes the job
        // only if it was recorded: submissions at once, from any API process, cannot pass the cap.
        if (!(await records.create(job, (m) => turns.admit(m, job, true), maxQueued ?? 0)))
          throw new QueueFullError(maxQueued ?? 0);
      } catch (e) {
        if (idempotencyKey !== undefined) await idempotency.release(idempotencyKey).catch(() => {});
        throw e;
      }
      // Recorded is accepted, and in its tenant's line: should the handover fail, a worker or the
      // sweep makes it.
      await turns.feed().catch(() => {});
      if (idempotencyKey !== undefined) await idempotency.enqueued(idempotencyKey, fingerprint, job.id);
      return { job, replayed: false };
    },

    get: (id) => records.get(id),

    list: (query) => records.list(query),

    async cancel(id) {
      const job = await records.get(id);
      if (!job) return null;
      if (terminal(job.status)) return job;
      await records.update(id, { cancelRequested: true });
      // A job still waiting is taken out of its line or off BullMQ; one that a worker holds is
      // stopped there.
      if (job.status === "queued" && (await withdraw(job))) {
        const at = new Date().toISOString();
        if (await records.setStatus(id, "canceled", ["queued"], { finishedAt: at })) {
          await redis.publish(keys.doneChannel, id);
          await deliveries.enqueue(await records.get(id), "job.canceled");
        }
      } else {
        await redis.publish(keys.cancelChannel, id);
      }
      return records.get(id);
    },

    async wait(id, timeoutMs, signal) {
      const job = await records.get(id);
      if (!job || terminal(job.status)) return job;
      await new Promise<void>((resolve) => {
        const check = () => {
          records.get(id).then(
            (j) => terminal(j?.status) && done(),
            () => {},
          );
        };
        const done = () => {
          clearTimeout(timer);
          clearInterval(poll);
          finished.off(id, done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        // Messages are lost while Redis restarts; a slow poll covers that.
        const poll = setInterval(check, 1000);
        finished.on(id, done);
        signal?.addEventListener("abort", done, { once: true });
        check();
      });
      return records.get(id);
    },

    async forget(id) {
      const job = await records.get(id);
      if (!job || !terminal(job.status)) return false;
      await records.forget([id]);
      return true;
    },

    counts: (owner) => records.counts(owner),

    oldestQueued: async () => (await records.oldest("queued", 1))[0] ?? null,

    async queuedByTenant() {
      const tenants = await turns.tenants((id) => redis.hget(keys.job(id), "owner"));
      const counts = await Promise.all(
        [...tenants].map(async (t) => [t, (await records.counts(t)).queued] as const),
      );
      return new Map(counts.filter(([, n]) => n > 0));
    },

    async readiness() {
      if (closing) return { ready: false, detail: "shutting down" };
      try {
        await redis.ping();
      } catch (e) {
        return { ready: false, detail: `Redis unreachable: ${(e as Error).message}` };
      }
      const workers = await queue.getWorkersCount().catch(() => 0);
      const own = local ? await local.readiness() : null;
      const detail = `Redis reachable, ${workers} worker connection(s)${own ? `; local worker: ${own.detail}` : ""}`;
      return { ready: own ? own.ready : true, detail };
    },

    async close() {
      if (closing) return;
      closing = true;
      clearInterval(sweeper);
      await local?.close();
      await queue.close();
      await deliveries.close();
      await subscriber.quit().catch(() => {});
      await redis.quit().catch(() => {});
    },
  };
}
