import { newJobId } from "../contract/ids.js";
import { JOB_STATUSES } from "../contract/job-schemas.js";
import { ANONYMOUS, type Job, type JobCounts, type JobSpec } from "../contract/jobs.js";

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
  return Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as JobCounts;
}
