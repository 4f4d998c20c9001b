import type { RedisRecords } from "./redis-records.js";

/**
 * Job ids recorded as queued, at least `minAgeMs` old, that no BullMQ job stands for. An API process
 * records a job and then enqueues it, in two steps; one that dies between them leaves such a record,
 * which nothing would ever run. `hasQueueJob` asks BullMQ.
 */
export async function orphanedJobs(
  records: RedisRecords,
  hasQueueJob: (id: string) => Promise<boolean>,
  minAgeMs: number,
  now = Date.now(),
): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await records.list({ status: "queued", limit: 100, cursor });
    for (const job of page.jobs) {
      if (now - Date.parse(job.createdAt) >= minAgeMs && !(await hasQueueJob(job.id))) out.push(job.id);
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return out;
}
