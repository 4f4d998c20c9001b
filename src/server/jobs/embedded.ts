import { EventEmitter } from "node:events";
import { decodeCursor, encodeCursor } from "../contract/cursor.js";
import {
  ANONYMOUS,
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobQueue,
  type JobStatus,
  QueueFullError,
  TERMINAL,
} from "../contract/jobs.js";
import { createDispatcher, type WebhookOptions } from "../webhooks/dispatcher.js";
import { eventOf } from "../webhooks/payload.js";
import { QueueClosedError } from "./errors.js";
import { execute } from "./execute.js";
import { Journal, type JournalRecord, journalFile } from "./journal.js";
import { DEFAULT_RETENTION_MS, newJob, zeroCounts } from "./record.js";
import { type RunnerSettings, runnerOf } from "./runner.js";
import { costOf, Turns } from "./turns.js";

/** `store`, `concurrency` (jobs at once, default 1), `threads`, `providers`, `noise`: for the runner this queue makes unless given one. */
export interface EmbeddedQueueOptions extends RunnerSettings {
  /** Where the journal lives (`<dataDir>/jobs.journal`). */
  dataDir: string;
  webhooks?: WebhookOptions | undefined;
  /** Finished jobs (and their idempotency keys) are forgotten this long after they end. Default 7 days. */
  retentionMs?: number | undefined;
  /** How often jobs past their retention are looked for and dropped from the journal. Default 1 minute. */
  expireEveryMs?: number | undefined;
  /** `close()` lets running jobs finish this long before handing them back. Default 10 s. */
  drainMs?: number | undefined;
  /** The journal is compacted once it has this many lines and four per job. Default 1000. */
  compactAfter?: number | undefined;
  /** Tenants' shares of the workers (turns.ts); a tenant not named has weight 1. */
  weights?: Readonly<Record<string, number>> | undefined;
}

const terminal = (s: JobStatus) => TERMINAL.includes(s);

/**
 * The in-process queue: `concurrency` jobs at once on a thread pool; tenants take turns by the draws
 * their jobs ask for, and each tenant's jobs start in the order they came (turns.ts). Every accepted
 * job and every change of state is journaled, so that a restart finishes what was accepted (queued
 * and running jobs run again; a certificate is a pure function of its input, parameters, seed and
 * models).
 */
export async function createEmbeddedQueue(options: EmbeddedQueueOptions): Promise<JobQueue> {
  const { journal, records } = await Journal.open(journalFile(options.dataDir));
  const concurrency = options.concurrency ?? 1;
  const runner = runnerOf({ ...options, concurrency });
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const jobs = new Map<string, Job>();
  const keys = new Map<string, { fingerprint: string; id: string | null }>();
  const keyOf = new Map<string, string>();
  const waiting = new Turns();
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Jobs of each owner being journaled: not in `waiting` yet, but counted toward `maxQueued`. */
  const accepting = new Map<string, number>();
  const reserve = (owner: string) => accepting.set(owner, (accepting.get(owner) ?? 0) + 1);
  const release = (owner: string) => {
    const left = (accepting.get(owner) ?? 1) - 1;
    if (left > 0) accepting.set(owner, left);
    else accepting.delete(owner);
  };
  const changes = new EventEmitter().setMaxListeners(0);
  let closing = false;
  let warm: Promise<void> = Promise.resolve();

  // Replay: the last line of a job wins. What was queued or running is queued again, in order.
  for (const r of records) {
    // Journals written before jobs had owners: those jobs were anyone's, now the anonymous tenant's.
    r.job.owner ??= ANONYMOUS;
    jobs.set(r.job.id, r.job);
    if (r.key) {
      keys.set(r.key.key, { fingerprint: r.key.fingerprint, id: r.job.id });
      keyOf.set(r.job.id, r.key.key);
    }
  }
  const ordered = () => [...jobs.keys()].sort();
  const resumed: Job[] = [];
  for (const id of ordered()) {
    const job = jobs.get(id);
    if (!job || terminal(job.status)) continue;
    if (job.cancelRequested) {
      Object.assign(job, { status: "canceled", finishedAt: new Date().toISOString() });
      resumed.push(job);
    } else {
      Object.assign(job, { status: "queued", startedAt: null, progress: { done: 0, total: 0 } });
      waiting.push(job.owner, id, costOf(job.spec, options.weights?.[job.owner]));
    }
  }
  let order = ordered();

  const expired = (job: Job | undefined, horizon: number) =>
    job?.finishedAt != null && terminal(job.status) && Date.parse(job.finishedAt) < horizon;
  /** Forgets a job and its idempotency key; the next compaction leaves its lines out. */
  const drop = (id: string) => {
    jobs.delete(id);
    const key = keyOf.get(id);
    if (key) keys.delete(key);
    keyOf.delete(id);
  };
  const snapshot = (): JournalRecord[] => {
    const horizon = Date.now() - retentionMs;
    for (const id of order) if (expired(jobs.get(id), horizon)) drop(id);
    order = order.filter((id) => jobs.has(id));
    return order.flatMap((id) => {
      const job = jobs.get(id);
      const key = keyOf.get(id);
      const fingerprint = key ? keys.get(key)?.fingerprint : undefined;
      if (!job) return [];
      return [{ job, ...(key && fingerprint ? { key: { key, fingerprint } } : {}) }];
    });
  };

  /** Journals a job's new state; the journal is compacted once it holds far more lines than jobs. */
  const save = async (job: Job): Promise<void> => {
    await journal.append({ job });
    if (journal.lines > Math.max(options.compactAfter ?? 1000, 4 * jobs.size)) journal.compact(snapshot);
  };
  const changed = (job: Job) => changes.emit(job.id, job);
  // Retention is kept on disk too, and on time: once a job is past it, the journal is rewritten
  // without it, whether or not more jobs come.
  const expiry = setInterval(() => {
    const horizon = Date.now() - retentionMs;
    if (!closing && order.some((id) => expired(jobs.get(id), horizon))) journal.compact(snapshot);
  }, options.expireEveryMs ?? 60_000);
  expiry.unref();

  const dispatcher = createDispatcher(
    options.webhooks ?? {},
    async (id, delivery) => {
      const job = jobs.get(id);
      if (!job) return;
      job.deliveries.push(delivery);
      await save(job);
    },
    (id) => jobs.has(id),
  );
  const emit = (job: Job) => {
    const event = eventOf(job.status);
    if (event) dispatcher.dispatch(job, event);
  };

  const finish = async (job: Job, patch: Partial<Job>) => {
    Object.assign(job, patch, { finishedAt: new Date().toISOString() });
    await save(job).catch(() => {});
    changed(job);
    emit(job);
  };

  const run = async (job: Job, controller: AbortController) => {
    Object.assign(job, { status: "running", startedAt: new Date().toISOString() });
    void save(job).catch(() => {});
    changed(job);
    emit(job);
    const outcome = await execute(runner, job, {
      signal: controller.signal,
      onProgress: (p) => {
        job.progress = p;
      },
    });
    if (outcome.status === "succeeded") {
      await finish(job, { status: "succeeded", certificate: outcome.certificate });
    } else if (outcome.status === "failed") {
      await finish(job, { status: "failed", error: outcome.error });
    } else if (job.cancelRequested) {
      await finish(job, { status: "canceled" });
    }
    // Otherwise the queue is closing: the job stays running in the journal and runs again at start.
  };

  const pump = () => {
    while (!closing && running.size < concurrency) {
      const id = waiting.next();
      if (id === undefined) return;
      const job = jobs.get(id);
      if (job?.status !== "queued") continue;
      const controller = new AbortController();
      const done = run(job, controller).finally(() => {
        running.delete(id);
        pump();
      });
      running.set(id, { controller, done });
    }
  };

  for (const job of resumed) await save(job);
  // Deliveries owed when the process stopped go on: a retry that was waiting, or the final event of
  // a job that finished (or was canceled just now) before its first attempt was made.
  for (const job of jobs.values()) {
    const event = terminal(job.status) ? eventOf(job.status) : null;
    if (event) dispatcher.resume(job, event);
  }
  if (options.warm?.length) {
    warm = runner.warm(options.warm);
    warm.catch(() => {});
  }
  pump();

  const view = (job: Job | undefined): Job | null => (job ? structuredClone(job) : null);

  return {
    async submit(spec, { owner = ANONYMOUS, idempotencyKey, fingerprint, maxQueued }) {
      if (closing) throw new QueueClosedError();
      if (idempotencyKey !== undefined) {
        const seen = keys.get(idempotencyKey);
        if (seen) {
          if (seen.fingerprint !== fingerprint) {
            throw new IdempotencyMismatchError("this Idempotency-Key was used with another request body");
          }
          if (seen.id === null) {
            throw new IdempotencyInFlightError(
              "a request with this Idempotency-Key is still being processed",
            );
          }
          const job = jobs.get(seen.id);
          if (job) return { job: structuredClone(job), replayed: true };
        }
      }
      if (maxQueued && waiting.size(owner) + (accepting.get(owner) ?? 0) >= maxQueued) {
        throw new QueueFullError(maxQueued);
      }
      if (idempotencyKey !== undefined) keys.set(idempotencyKey, { fingerprint, id: null });
      const job = newJob(spec, owner);
      const key = idempotencyKey === undefined ? undefined : { key: idempotencyKey, fingerprint };
      // The slot is taken before the first await, so that submissions at once cannot all pass the cap.
      reserve(owner);
      try {
        await journal.append({ job, key });
      } catch (e) {
        if (idempotencyKey !== undefined) keys.delete(idempotencyKey);
        throw e;
      } finally {
        // Released in the same step that puts an accepted job in `waiting`, below.
        release(owner);
      }
      jobs.set(job.id, job);
      order.push(job.id);
      if (idempotencyKey !== undefined) {
        keys.set(idempotencyKey, { fingerprint, id: job.id });
        keyOf.set(job.id, idempotencyKey);
      }
      const accepted = structuredClone(job);
      waiting.push(owner, job.id, costOf(spec, options.weights?.[owner]));
      pump();
      return { job: accepted, replayed: false };
    },

    async get(id) {
      return view(jobs.get(id));
    },

    async list({ cursor, limit, status, owner }) {
      const after = cursor === undefined ? null : decodeCursor(cursor);
      const page: Job[] = [];
      let nextCursor: string | null = null;
      for (let i = order.length - 1; i >= 0; i--) {
        const id = order[i] as string;
        if (after !== null && id >= after) continue;
        const job = jobs.get(id);
        if (!job || (status && job.status !== status) || (owner && job.owner !== owner)) continue;
        if (page.length === limit) {
          nextCursor = encodeCursor(page.at(-1)?.id ?? id);
          break;
        }
        page.push(structuredClone(job));
      }
      return { jobs: page, nextCursor };
    },

    async cancel(id) {
      const job = jobs.get(id);
      if (!job) return null;
      if (terminal(job.status) || job.cancelRequested) return view(job);
      job.cancelRequested = true;
      if (job.status === "queued") {
        waiting.remove(job.owner, id);
        await finish(job, { status: "canceled" });
      } else {
        await save(job);
        running.get(id)?.controller.abort();
      }
      return view(job);
    },

    async wait(id, timeoutMs, signal) {
      const job = jobs.get(id);
      if (!job) return null;
      if (terminal(job.status)) return view(job);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          changes.off(id, onChange);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const onChange = (j: Job) => {
          if (terminal(j.status)) done();
        };
        const timer = setTimeout(done, timeoutMs);
        changes.on(id, onChange);
        signal?.addEventListener("abort", done, { once: true });
      });
      return view(jobs.get(id));
    },

    async forget(id) {
      const job = jobs.get(id);
      if (!job || !terminal(job.status)) return false;
      drop(id);
      // The journal still holds the job's lines, its input among them: rewrite it without them.
      journal.compact(snapshot);
      return true;
    },

    async counts(owner) {
      const counts = zeroCounts();
      for (const job of jobs.values()) if (owner === undefined || job.owner === owner) counts[job.status]++;
      return counts;
    },

    async oldestQueued() {
      const id = waiting.oldest();
      return id === undefined ? null : view(jobs.get(id));
    },

    async queuedByTenant() {
      return waiting.sizes();
    },

    async readiness() {
      if (closing) return { ready: false, detail: "shutting down" };
      const r = runner.readiness();
      return { ready: r.ready, detail: `embedded queue, ${concurrency} at once; ${r.detail}` };
    },

    async close() {
      if (closing) return;
      closing = true;
      clearInterval(expiry);
      const drained = Promise.all([...running.values()].map((r) => r.done));
      const timer = setTimeout(() => {
        for (const r of running.values()) r.controller.abort();
      }, options.drainMs ?? 10_000);
      await drained;
      clearTimeout(timer);
      if (!options.runner) await runner.close();
      await dispatcher.close();
      await journal.close();
    },
  };
}
