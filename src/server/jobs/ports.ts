import type { Job, JobEvent, JobQueue, JobStatus } from "../contract/jobs.js";

/**
 * What the job lifecycle (lifecycle.ts) needs of a backend: where jobs are recorded (the journal
 * for the embedded queue, hashes in Redis), the tenants' lines they wait in, idempotency keys, and
 * how news of a job goes out. Each backend is an adapter of these.
 */
export interface JobStore {
  get(id: string): Promise<Job | null>;
  /**
   * Records `job` and puts it in its tenant's line, in one step; false, and nothing recorded, when
   * its owner already has `maxQueued` jobs queued (0: no cap). `key` is the idempotency key it was
   * made under, for a store that keeps keys beside its jobs.
   */
  create(job: Job, maxQueued: number, key?: { key: string; fingerprint: string }): Promise<boolean>;
  /** Sets `status` and `patch` if the job's status is one of `expected`: the job after, or null. */
  move(id: string, status: JobStatus, expected: JobStatus[], patch: Partial<Job>): Promise<Job | null>;
  /** Sets fields other than the status, durably. */
  update(id: string, patch: Partial<Job>): Promise<void>;
  /** A running job's progress: shown while it runs, not worth a durable write each time. */
  progress(id: string, progress: Job["progress"]): Promise<void>;
  /** Deletes finished jobs: their inputs, certificates, deliveries and idempotency keys. */
  forget(ids: string[]): Promise<void>;
  /** Forgets the jobs that finished before `before` (ms since the epoch). */
  expire(before: number): Promise<void>;
}

/** The tenants' lines queued jobs wait in (turns.ts, redis-turns.ts). */
export interface Lines {
  /** Takes a queued job out of its line (a cancel); false when a worker has it already. */
  withdraw(job: Job): Promise<boolean>;
  /** Starts, or hands on to be started, as many waiting jobs as there is room for. */
  feed(): Promise<void>;
}

/** Idempotency keys: the job a key made, or a claim while its request is recorded. */
export interface Idempotency {
  /**
   * Claims `key` for job `id` (null), or answers the job an earlier request with the same body
   * made. Throws on another body, or while the earlier request is in flight.
   */
  claim(key: string, fingerprint: string, id: string): Promise<Job | null>;
  /** The claimed key's job is recorded: replay it from now on. */
  enqueued(key: string, fingerprint: string, id: string): Promise<void>;
  /** The request failed before its job was recorded: free the key for a retry. */
  release(key: string): Promise<void>;
}

/** How news of a job goes out: webhooks, and waiters on this or other processes. */
export interface Notices {
  /** Delivers `event` to the job's webhook, if it wants it. */
  deliver(job: Job, event: JobEvent): Promise<void>;
  /** The job reached a final state: wake whoever waits on it. */
  finished(job: Job): Promise<void>;
  /** Calls `onFinished` once job `id` may have finished; returns what stops listening. */
  watch(id: string, onFinished: () => void): () => void;
  /** Waiters also look this often (ms), where a notice can be lost (pub/sub while Redis restarts). */
  pollMs?: number | undefined;
}

/** Who a cancel must reach: the line holding a queued job, or whatever runs a running one. */
export interface Stopper {
  stop(id: string): Promise<void>;
}

/** The reads of `JobQueue` that a store answers alone. */
export type QueueReads = Pick<JobQueue, "get" | "list" | "counts" | "oldestQueued" | "queuedByTenant">;
