import { newJobId } from "./ids.js";
import { ANONYMOUS, type Job, type JobCounts, type JobSpec } from "./types.js";

/** How long a finished job is kept, unless configured otherwise (JOB_RETENTION): 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;

/** A job as it is accepted: queued, nothing run yet. */
export function newJob(spec: JobSpec, owner = ANONYMOUS, now = new Date()): Job {
  return {
    id: newJobId(now.getTime()),
    owner,
    status: "queued",
    spec,
    progress: { done: 0, total: 0 },
    createdAt: now.toISOString(),
    startedAt: null,
    finishedAt: null,
    certificate: null,
    error: null,
    cancelRequested: false,
    deliveries: [],
  };
}

export function zeroCounts(): JobCounts {
  return { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
}

/** Cursors are opaque to clients: the last id of a page, in base64url. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId).toString("base64url");
}

/** The id a cursor stands for, or null for a cursor this service did not make. */
export function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, "base64url").toString();
  return /^[0-9a-f-]{36}$/.test(id) ? id : null;
}
