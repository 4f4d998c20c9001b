import type { RedisRecords } from "./redis-records.js";

/** Queued records looked at per sweep: the oldest, where a record that nothing runs ends up. */
const OLDEST = 100;

/**
 * Job ids recorded as queued, at least `minAgeMs` old, that no BullMQ job stands for. An API process
 * records a job and then enqueues it, in two steps; one that dies between them leaves such a record,
 * which nothing would ever run. Jobs run about in order, so such a record soon becomes one of the
 * oldest queued, and only those are looked at: a sweep costs the same however long the backlog is.
 * `hasQueueJob` asks BullMQ.
 */
export async function orphanedJobs(
  records: RedisRecords,
  hasQueueJob: (id: string) => Promise<boolean>,
  minAgeMs: number,
  now = Date.now(),
): Promise<string[]> {
  const out: string[] = [];
  for (const job of await records.oldest("queued", OLDEST)) {
    if (now - Date.parse(job.createdAt) >= minAgeMs && !(await hasQueueJob(job.id))) out.push(job.id);
  }
  return out;
}
