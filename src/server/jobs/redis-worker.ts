import { type Job as BullJob, DelayedError, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { WebhookOptions } from "../webhooks/dispatcher.js";
import { jobErrorFrom } from "./errors.js";
import { Lifecycle } from "./lifecycle.js";
import { DEFAULT_RETENTION_MS } from "./record.js";
import { redisPorts } from "./redis-store.js";
import type { RedisTurns } from "./redis-turns.js";
import { webhookWorker } from "./redis-webhooks.js";
import { type RunnerSettings, runnerOf } from "./runner.js";
import { Runs } from "./runs.js";

export const CERTIFY_QUEUE = "certify";

/** `store`, `concurrency` (jobs at once, default 1), `threads`, `providers`, `noise`: for the runner this worker makes unless given one. */
export interface RedisWorkerOptions extends RunnerSettings {
  redisUrl: string;
  /** Key prefix in Redis, shared with the API processes. Default "dualrs". */
  prefix?: string | undefined;
  webhooks?: WebhookOptions | undefined;
  /** BullMQ's job lock, renewed at half this while a job runs. Default 30 s. */
  lockDurationMs?: number | undefined;
  /** How often workers look for jobs whose worker died. Default 30 s. */
  stalledIntervalMs?: number | undefined;
  /** Times a job may lose its worker before it fails. Default 5. */
  maxStalledCount?: number | undefined;
  /** `close()` lets running jobs finish this long before handing them back. Default 10 s. */
  drainMs?: number | undefined;
  /** Progress is written to Redis at most this often. Default 500 ms. */
  progressIntervalMs?: number | undefined;
  /** Finished jobs are forgotten this long after they end. Default 7 days. */
  retentionMs?: number | undefined;
  /** One line per job started and ended, for the process's log. */
  log?: ((line: string) => void) | undefined;
  /** Jobs kept waiting on BullMQ, the rest in their tenants' lines (redis-turns.ts). Default 2. */
  readyJobs?: number | undefined;
}

export interface RedisWorker {
  readiness(): Promise<{ ready: boolean; detail: string }>;
  /** Stops taking jobs, lets running ones finish for `drainMs`, hands the rest back to the queue. */
  close(): Promise<void>;
}

/**
 * A BullMQ worker for certification jobs. Delivery is at least once: a job whose worker dies is
 * found stalled once its lock lapses and runs again elsewhere, to the same certificate. Inference
 * runs on the runner's threads, so this event loop stays free to renew the locks of long jobs. The
 * lifecycle is lifecycle.ts's, over Redis's ports (redis-store.ts).
 */
export async function createRedisWorker(options: RedisWorkerOptions): Promise<RedisWorker> {
  const prefix = options.prefix ?? "dualrs";
  // Workers ride out Redis restarts: commands wait for the connection instead of failing.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const subscriber = connection.duplicate();
  // Connection errors are retried by ioredis; BullMQ resumes once Redis is back.
  connection.on("error", () => {});
  subscriber.on("error", () => {});
  const webhooks = options.webhooks ?? {};
  const queue = new Queue<{ id: string }>(CERTIFY_QUEUE, { connection, prefix });
  queue.on("error", () => {});
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const { ports, records, turns, deliveries, store } = redisPorts({
    redis: connection,
    prefix,
    queue,
    webhooks,
    retentionMs,
    readyJobs: options.readyJobs,
  });
  const lifecycle = new Lifecycle({ ...ports, log: options.log, expireOnFinish: true });
  const concurrency = options.concurrency ?? 1;
  const runner = runnerOf({ ...options, concurrency });
  const runs = new Runs(lifecycle, store, runner, {
    progressIntervalMs: options.progressIntervalMs ?? 500,
    cancelPollMs: 500,
    cancelRequested: (id) => records.cancelRequested(id),
  });

  // Cancels reach the worker that runs the job by pub/sub, and by polling should a message be lost.
  await subscriber.subscribe(records.keys.cancelChannel);
  subscriber.on("message", (_channel: string, id: string) => runs.stop(id, "cancel"));

  const worker = certifyWorker(connection, prefix, options, { lifecycle, runs, turns });
  const deliverer = webhookWorker(connection, prefix, webhooks, records);
  deliverer.on("error", () => {});
  if (options.warm?.length) runner.warm(options.warm).catch(() => {});

  let closed = false;
  return {
    async readiness() {
      if (closed) return { ready: false, detail: "worker shutting down" };
      const r = runner.readiness();
      return { ready: r.ready, detail: `${concurrency} job(s) at once; ${r.detail}` };
    },
    async close() {
      if (closed) return;
      closed = true;
      await runs.drain(options.drainMs ?? 10_000, worker.close());
      await queue.close();
      await deliverer.close();
      await deliveries.close();
      if (!options.runner) await runner.close();
      await subscriber.quit().catch(() => {});
      await connection.quit().catch(() => {});
    },
  };
}

/**
 * The BullMQ worker that takes certification jobs: each runs through `runs`, and one that a shutdown
 * stopped goes back to the queue at once.
 */
function certifyWorker(
  connection: Redis,
  prefix: string,
  options: RedisWorkerOptions,
  { lifecycle, runs, turns }: { lifecycle: Lifecycle; runs: Runs; turns: RedisTurns },
): Worker<{ id: string }> {
  const processJob = async (task: BullJob<{ id: string }>, token?: string): Promise<void> => {
    const id = task.data.id;
    // A job taken frees a place on BullMQ: the next tenant's job takes it.
    void turns
      .taken(id)
      .then(() => turns.feed())
      .catch(() => {});
    if ((await runs.run(id)) === "done") return;
    // Shutting down: back to the queue at once, for this or another worker to run again.
    await lifecycle.handBack(id);
    await task.moveToDelayed(Date.now(), token);
    throw new DelayedError();
  };

  const worker = new Worker<{ id: string }>(CERTIFY_QUEUE, processJob, {
    connection,
    prefix,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 5,
  });
  // A job BullMQ gives up on (stalled too often, or Redis errors on every attempt) fails visibly.
  worker.on("failed", (task, e) => {
    if (!task || (task.attemptsMade < (task.opts.attempts ?? 1) && !/stalled/i.test(e.message))) return;
    void lifecycle.finish(task.data.id, "failed", { error: jobErrorFrom(e) }).catch(() => {});
  });
  worker.on("error", () => {
    // Connection errors: ioredis reconnects, and BullMQ resumes.
  });
  // Nothing waits on BullMQ: a handover that failed when a job was taken is made now.
  worker.on("drained", () => void turns.feed().catch(() => {}));
  return worker;
}
