import type { Certificate } from "../../core/certificate.js";
import type { CertifyParameters, ResolvedParameters } from "../../core/parameters.js";
import {
  type JobError,
  type JobEvent,
  type JobStatus,
  TERMINAL_STATUSES,
  type WebhookDelivery,
} from "./job-schemas.js";

/**
 * The contract between the HTTP API and the job backends (the embedded, journaled queue and
 * BullMQ on Redis). Everything here is plain JSON so that it can be journaled and sent to Redis.
 * The parts the API shows are inferred from their zod schemas (job-schemas.ts).
 */

export type { JobError, JobEvent, JobStatus, WebhookDelivery };

export const TERMINAL: readonly JobStatus[] = TERMINAL_STATUSES;

/** What the API hands to a backend once the request is validated. */
export interface JobSpec {
  certifier: string;
  /** The input, decoded and validated against the certifier: float32 little-endian, base64. */
  input: { shape: number[]; data: string; sha256: string };
  /** The parameters as sent, with `seed` always set, so that a rerun is identical. */
  parameters: CertifyParameters & { seed: number };
  /**
   * The same parameters resolved against the certifier's manifest when the job was accepted, and
   * that manifest's digest (job-input.ts): a run on the same manifest certifies with them as they
   * are. Absent in jobs recorded by earlier versions, which are resolved when they run.
   */
  resolved?: { manifest: string; parameters: ResolvedParameters } | undefined;
  webhook?: { url: string; events: JobEvent[] } | undefined;
  metadata?: Record<string, string> | undefined;
}

/** The owner of jobs submitted without an API key (on loopback, with no keys configured). */
export const ANONYMOUS = "anonymous";

export interface Job {
  id: string;
  /** The tenant that submitted it: only that tenant's API keys may see, list or cancel it. */
  owner: string;
  status: JobStatus;
  spec: JobSpec;
  progress: { done: number; total: number };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  certificate: Certificate | null;
  error: JobError | null;
  /** Set when a cancel was requested; the job becomes `canceled` once its runner stops. */
  cancelRequested: boolean;
  deliveries: WebhookDelivery[];
}

export interface ListQuery {
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
  limit: number;
  status?: JobStatus | undefined;
  /** Only this tenant's jobs; every job when absent. */
  owner?: string | undefined;
}

export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

export interface SubmitOptions {
  /** The tenant submitting the job; default `anonymous`. */
  owner?: string | undefined;
  /** `Idempotency-Key` header, scoped by the caller's tenant. */
  idempotencyKey?: string | undefined;
  /** sha256 of the request body, to tell a retry from a different request under the same key. */
  fingerprint: string;
  /** Refuse the job (`QueueFullError`) when its owner already has this many queued; 0 or absent: no cap. */
  maxQueued?: number | undefined;
}

export type JobCounts = Record<JobStatus, number>;

/**
 * A job backend. `submit` resolves only once the job is durably recorded (accepted work is never
 * lost). Idempotency follows draft-ietf-httpapi-idempotency-key-header: the same key and body
 * returns the first job (`replayed`), the same key with another body throws
 * `IdempotencyMismatchError`, and a key whose first request is still being recorded throws
 * `IdempotencyInFlightError`. A replay is answered even when the owner's queued jobs are at `maxQueued`.
 */
export interface JobQueue {
  submit(spec: JobSpec, options: SubmitOptions): Promise<{ job: Job; replayed: boolean }>;
  get(id: string): Promise<Job | null>;
  list(query: ListQuery): Promise<JobPage>;
  /** Requests cancellation; a queued job is canceled at once, a running one within a second. */
  cancel(id: string): Promise<Job | null>;
  /** Forgets a finished job now (its input, certificate and deliveries); false when none is finished. */
  forget(id: string): Promise<boolean>;
  /** Resolves with the job once it is terminal, or with its current state after `timeoutMs`. */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Job | null>;
  /** Jobs by status: every owner's, or `owner`'s alone. */
  counts(owner?: string): Promise<JobCounts>;
  /** The queued job accepted first, or null when none waits: read in one step, however long the backlog. */
  oldestQueued(): Promise<Job | null>;
  /** Queued jobs of each tenant that has any. */
  queuedByTenant(): Promise<Map<string, number>>;
  /** Whether the backend can take jobs (Redis reachable, workers' models loaded), for /readyz. */
  readiness(): Promise<{ ready: boolean; detail: string }>;
  /** Stops taking jobs, lets running ones finish or hands them back, then releases resources. */
  close(): Promise<void>;
}

export class IdempotencyMismatchError extends Error {
  override readonly name = "IdempotencyMismatchError";
}

/** The owner already has `maxQueued` jobs waiting: a new one is refused until some have run. */
export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
  constructor(readonly maxQueued: number) {
    super(`${maxQueued} jobs are already queued, the most allowed at once; submit again once some have run`);
  }
}

export class IdempotencyInFlightError extends Error {
  override readonly name = "IdempotencyInFlightError";
}
