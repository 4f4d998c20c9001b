import {
  ANONYMOUS,
  type Job,
  type JobQueue,
  type JobStatus,
  QueueFullError,
  TERMINAL,
} from "../contract/jobs.js";
import { eventOf } from "../webhooks/payload.js";
import { QueueClosedError } from "./errors.js";
import type { Idempotency, JobStore, Lines, Notices, Stopper } from "./ports.js";
import { newJob } from "./record.js";

export const terminal = (s: JobStatus | undefined) => s !== undefined && TERMINAL.includes(s);

export interface LifecyclePorts {
  store: JobStore;
  lines: Lines;
  idempotency: Idempotency;
  notices: Notices;
  /** Reaches what runs a job whose cancel was requested. */
  stopper: Stopper;
  /** Finished jobs are forgotten this long after they end. */
  retentionMs: number;
  /** Forget old jobs whenever one finishes (Redis workers), rather than on a timer alone. */
  expireOnFinish?: boolean | undefined;
  /** One line per job started and ended, for the process's log. */
  log?: ((line: string) => void) | undefined;
}

/** The parts of `JobQueue` that are the same on every backend. */
export type SharedQueue = Pick<JobQueue, "submit" | "cancel" | "wait" | "forget">;

/**
 * A job's lifecycle, written once for every backend: submit, start, finish (succeeded, failed,
 * canceled), hand back, cancel, wait, forget, retention, and the webhook event of each change.
 * Every status change is a compare-and-set on the store (`move`), so that processes racing on one
 * job (an API process canceling it, a worker finishing it) agree on a single outcome.
 */
export class Lifecycle implements SharedQueue {
  closing = false;
  private readonly store: JobStore;
  private readonly notices: Notices;

  constructor(private readonly ports: LifecyclePorts) {
    this.store = ports.store;
    this.notices = ports.notices;
  }

  /** submit, cancel, wait and forget, bound, for a backend's `JobQueue`. */
  shared(): SharedQueue {
    return {
      submit: (spec, options) => this.submit(spec, options),
      cancel: (id) => this.cancel(id),
      wait: (id, timeoutMs, signal) => this.wait(id, timeoutMs, signal),
      forget: (id) => this.forget(id),
    };
  }

  async submit(...[spec, options]: Parameters<JobQueue["submit"]>): ReturnType<JobQueue["submit"]> {
    if (this.closing) throw new QueueClosedError();
    const { owner = ANONYMOUS, idempotencyKey: key, fingerprint, maxQueued = 0 } = options;
    const { idempotency } = this.ports;
    const job = newJob(spec, owner);
    if (key !== undefined) {
      const seen = await idempotency.claim(key, fingerprint, job.id);
      if (seen) return { job: seen, replayed: true };
    }
    try {
      // The store checks the cap in the step that records the job and puts it in its line, so
      // that submissions at once, from any process, cannot pass it.
      const recorded = await this.store.create(
        job,
        maxQueued,
        key === undefined ? undefined : { key, fingerprint },
      );
      if (!recorded) throw new QueueFullError(maxQueued);
    } catch (e) {
      if (key !== undefined) await idempotency.release(key).catch(() => {});
      throw e;
    }
    if (key !== undefined) await idempotency.enqueued(key, fingerprint, job.id);
    // Recorded is accepted, and in its tenant's line: should feeding fail, the next one does it.
    await this.ports.lines.feed().catch(() => {});
    return { job, replayed: false };
  }

  /** Marks job `id` running: null when it is gone, finished, or its cancel was requested (then canceled). */
  async start(id: string): Promise<Job | null> {
    const job = await this.store.get(id);
    if (!job || terminal(job.status)) return null;
    if (job.cancelRequested) {
      await this.finish(id, "canceled", {});
      return null;
    }
    const started = await this.store.move(id, "running", ["queued", "running"], {
      startedAt: new Date().toISOString(),
      progress: { done: 0, total: 0 },
    });
    if (!started) return null;
    this.ports.log?.(`job ${id} running`);
    await this.notices.deliver(started, "job.running");
    return started;
  }

  /** Ends job `id` with `status` unless it ended already; tells waiters and its webhook. */
  async finish(
    id: string,
    status: JobStatus,
    patch: Partial<Job>,
    from: JobStatus[] = ["queued", "running"],
  ) {
    const done = await this.store.move(id, status, from, { ...patch, finishedAt: new Date().toISOString() });
    if (!done) return;
    this.ports.log?.(`job ${id} ${status}`);
    if (this.ports.expireOnFinish) await this.expire().catch(() => {});
    await this.notices.finished(done);
    const event = eventOf(status);
    if (event) await this.notices.deliver(done, event);
  }

  /** A running job goes back to its line's head of the queue, to run again from the start. */
  async handBack(id: string): Promise<void> {
    await this.store.move(id, "queued", ["running"], { startedAt: null, progress: { done: 0, total: 0 } });
    this.ports.log?.(`job ${id} handed back`);
  }

  /** Forgets the jobs past their retention. */
  expire(): Promise<void> {
    return this.store.expire(Date.now() - this.ports.retentionMs);
  }

  async cancel(id: string): Promise<Job | null> {
    const job = await this.store.get(id);
    if (!job) return null;
    if (terminal(job.status)) return job;
    await this.store.update(id, { cancelRequested: true });
    // A job still waiting is taken out of its line and canceled here; one that runs is stopped there.
    if (job.status === "queued" && (await this.ports.lines.withdraw(job))) {
      await this.finish(id, "canceled", {}, ["queued"]);
    } else {
      await this.ports.stopper.stop(id);
    }
    return this.store.get(id);
  }

  async wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Job | null> {
    const job = await this.store.get(id);
    if (!job || terminal(job.status)) return job;
    await new Promise<void>((resolve) => {
      const check = () => {
        this.store.get(id).then(
          (j) => terminal(j?.status) && done(),
          () => {},
        );
      };
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        unwatch();
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const { pollMs } = this.notices;
      const poll = pollMs ? setInterval(check, pollMs) : undefined;
      const unwatch = this.notices.watch(id, done);
      signal?.addEventListener("abort", done, { once: true });
      // The caller may have left, or the job finished, between the read above and the watch.
      if (signal?.aborted) done();
      else check();
    });
    return this.store.get(id);
  }

  async forget(id: string): Promise<boolean> {
    const job = await this.store.get(id);
    if (!job || !terminal(job.status)) return false;
    await this.store.forget([id]);
    return true;
  }
}
