import { type Job as BullJob, DelayedError, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Progress } from "../../core/sampler.js";
import { type Job, type JobEvent, type JobStatus, TERMINAL } from "../contract/jobs.js";
import type { WebhookOptions } from "../webhooks/dispatcher.js";
import { jobProblemTypes } from "./errors.js";
import { execute } from "./execute.js";
import { DEFAULT_RETENTION_MS } from "./record.js";
import { RedisRecords } from "./redis-records.js";
import { RedisTurns } from "./redis-turns.js";
import { webhookQueue, webhookWorker } from "./redis-webhooks.js";
import { type RunnerSettings, runnerOf } from "./runner.js";

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

const terminal = (s: JobStatus) => TERMINAL.includes(s);

interface Active {
  controller: AbortController;
  reason: "cancel" | "shutdown" | null;
}

/**
 * A BullMQ worker for certification jobs. Delivery is at least once: a job whose worker dies is
 * found stalled once its lock lapses and runs again elsewhere, to the same certificate. Inference
 * runs on the runner's threads, so this event loop stays free to renew the locks of long jobs.
 */
export async function createRedisWorker(options: RedisWorkerOptions): Promise<RedisWorker> {
  const prefix = options.prefix ?? "dualrs";
  // Workers ride out Redis restarts: commands wait for the connection instead of failing.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const subscriber = connection.duplicate();
  // Connection errors are retried by ioredis; BullMQ resumes once Redis is back.
  connection.on("error", () => {});
  subscriber.on("error", () => {});
  const log = options.log ?? (() => {});
  const records = new RedisRecords(connection, prefix);
  const keys = records.keys;
  const webhooks = options.webhooks ?? {};
  const deliveries = webhookQueue(connection, prefix, webhooks);
  const queue = new Queue<{ id: string }>(CERTIFY_QUEUE, { connection, prefix });
  queue.on("error", () => {});
  const turns = new RedisTurns(connection, prefix, queue, options.readyJobs);
  // A job taken frees a place on BullMQ: the next tenant's job takes it.
  const refill = (id: string) =>
    turns
      .taken(id)
      .then(() => turns.feed())
      .catch(() => {});
  const concurrency = options.concurrency ?? 1;
  const runner = runnerOf({ ...options, concurrency });
  const progressIntervalMs = options.progressIntervalMs ?? 500;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const active = new Map<string, Active>();
  const stop = (id: string, reason: Active["reason"]) => {
    const a = active.get(id);
    if (!a) return;
    a.reason ??= reason;
    a.controller.abort();
  };

  // Cancels reach the worker that runs the job by pub/sub, and by polling should a message be lost.
  await subscriber.subscribe(keys.cancelChannel);
  subscriber.on("message", (_channel: string, id: string) => stop(id, "cancel"));

  const finish = async (id: string, status: JobStatus, patch: Partial<Job>) => {
    const done = await records.setStatus(id, status, ["queued", "running"], {
      ...patch,
      finishedAt: new Date().toISOString(),
    });
    if (!done) return;
    log(`job ${id} ${status}`);
    await records.expire(Date.now() - retentionMs).catch(() => 0);
    await connection.publish(keys.doneChannel, id);
    await deliveries.enqueue(await records.get(id), `job.${status}` as JobEvent);
  };

  const processJob = async (task: BullJob<{ id: string }>, token?: string): Promise<void> => {
    const id = task.data.id;
    void refill(id);
    const job = await records.get(id);
    if (!job || terminal(job.status)) return;
    if (job.cancelRequested) {
      await finish(id, "canceled", {});
      return;
    }
    const started = await records.setStatus(id, "running", ["queued", "running"], {
      startedAt: new Date().toISOString(),
      progress: { done: 0, total: 0 },
    });
    if (!started) return;
    log(`job ${id} running`);
    await deliveries.enqueue(await records.get(id), "job.running");
    const a: Active = { controller: new AbortController(), reason: null };
    active.set(id, a);
    const poll = setInterval(() => {
      records.cancelRequested(id).then(
        (c) => c && stop(id, "cancel"),
        () => {},
      );
    }, 500);
    let latest: Progress = { done: 0, total: 0 };
    let written = 0;
    try {
      if (await records.cancelRequested(id)) stop(id, "cancel");
      const outcome = await execute(runner, job, {
        signal: a.controller.signal,
        onProgress: (p) => {
          latest = p;
          const now = Date.now();
          if (now - written < progressIntervalMs && p.done < p.total) return;
          written = now;
          records.update(id, { progress: p }).catch(() => {});
        },
      });
      if (outcome.status === "succeeded") {
        await finish(id, "succeeded", { certificate: outcome.certificate, progress: latest });
      } else if (outcome.status === "failed") {
        await finish(id, "failed", { error: outcome.error, progress: latest });
      } else if (a.reason === "cancel") {
        await finish(id, "canceled", { progress: latest });
      } else {
        // Shutting down: back to the queue at once, for this or another worker to run again.
        await records.setStatus(id, "queued", ["running"], {
          startedAt: null,
          progress: { done: 0, total: 0 },
        });
        log(`job ${id} handed back`);
        await task.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
    } finally {
      clearInterval(poll);
      active.delete(id);
    }
  };

  const worker = new Worker<{ id: string }>(CERTIFY_QUEUE, processJob, {
    connection,
    prefix,
    concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 5,
  });
  // A job BullMQ gives up on (stalled too often, or Redis errors on every attempt) fails visibly.
  worker.on("failed", (task, e) => {
    if (!task || (task.attemptsMade < (task.opts.attempts ?? 1) && !/stalled/i.test(e.message))) return;
    void finish(task.data.id, "failed", {
      error: { type: jobProblemTypes.internal, title: "Certification failed", detail: e.message },
    }).catch(() => {});
  });
  worker.on("error", () => {
    // Connection errors: ioredis reconnects, and BullMQ resumes.
  });
  // Nothing waits on BullMQ: a handover that failed when a job was taken is made now.
  worker.on("drained", () => void turns.feed().catch(() => {}));
  const deliverer = webhookWorker(connection, prefix, webhooks, records);
  deliverer.on("error", () => {});
  let warmed: Promise<void> = Promise.resolve();
  if (options.warm?.length) {
    warmed = runner.warm(options.warm);
    warmed.catch(() => {});
  }

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
      const timer = setTimeout(() => {
        for (const id of active.keys()) stop(id, "shutdown");
      }, options.drainMs ?? 10_000);
      await worker.close();
      clearTimeout(timer);
      await queue.close();
      await deliverer.close();
      await deliveries.close();
      if (!options.runner) await runner.close();
      await subscriber.quit().catch(() => {});
      await connection.quit().catch(() => {});
    },
  };
}
