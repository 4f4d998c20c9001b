import type { Job } from "../contract/jobs.js";
import type { RedisRecords } from "./redis-records.js";

/** Queued records looked at per sweep: the oldest, where a record that nothing runs ends up. */
const OLDEST = 100;

/**
 * Jobs recorded as queued, at least `minAgeMs` old, that neither a tenant's line nor BullMQ holds
 * (`held` says). A job is recorded and put in its line in one transaction, so only records written
 * otherwise (by a version that enqueued in a second step, by a process that died between the two)
 * end up so, and nothing would ever run them. Such a record soon becomes one of the oldest queued,
 * and only those are looked at: a sweep costs the same however long the backlog is.
 */
export async function orphanedJobs(
  records: RedisRecords,
  held: (job: Job) => Promise<boolean>,
  minAgeMs: number,
  now = Date.now(),
): Promise<Job[]> {
  const out: Job[] = [];
  for (const job of await records.oldest("queued", OLDEST)) {
    if (now - Date.parse(job.createdAt) >= minAgeMs && !(await held(job))) out.push(job);
  }
  return out;
}
