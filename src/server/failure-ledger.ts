import { Redis } from "ioredis";
import type { JobQueue } from "./contract/jobs.js";
import { redisKeys } from "./jobs/redis-records.js";

/**
 * How many failed jobs a metrics publisher has reported, against the queue's count of failed jobs.
 * Publishers that share one (every API process of a deployment, through Redis) report each failure
 * once between them, not once each.
 */
export interface FailureLedger {
  /** Takes the queue's count as reported if nothing was yet: failures from before are not reported. */
  prime(): Promise<void>;
  /**
   * Failures not yet reported; from here they count as reported. A count that shrank (old jobs
   * pruned) yields 0, and the next failures are counted from it.
   */
  take(): Promise<number>;
  /** Gives back failures taken for a publish that did not go through, for the next one. */
  giveBack(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A ledger of this process's own, for a queue no other process publishes. */
export function memoryFailureLedger(queue: JobQueue): FailureLedger {
  let last: number | undefined;
  const failed = async () => (await queue.counts()).failed;
  return {
    async prime() {
      last ??= await failed();
    },
    async take() {
      const now = await failed();
      const n = last === undefined ? 0 : Math.max(0, now - last);
      last = now;
      return n;
    },
    async giveBack(n) {
      if (last !== undefined) last -= n;
    },
    async close() {},
  };
}

// Reading the count and moving the mark in one script: two publishers that read the count apart
// and then wrote their marks in the other order would report the failures between twice.
const takeScript = `
local now = redis.call('ZCARD', KEYS[2])
local last = tonumber(redis.call('GET', KEYS[1]))
redis.call('SET', KEYS[1], now)
if not last or now <= last then return 0 end
return now - last`;
const primeScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], redis.call('ZCARD', KEYS[2])) end
return 0`;

/** A ledger in Redis for the queue under `prefix`, shared by every process that gives the same `name`. */
export function redisFailureLedger(redisUrl: string, prefix: string, name: string): FailureLedger {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  const mark = `${prefix}:reported-failures:${name}`;
  const failed = redisKeys(prefix).byStatus("failed");
  return {
    async prime() {
      await redis.eval(primeScript, 2, mark, failed);
    },
    async take() {
      return Number(await redis.eval(takeScript, 2, mark, failed));
    },
    async giveBack(n) {
      if (n > 0) await redis.decrby(mark, n);
    },
    async close() {
      await redis.quit().catch(() => {});
    },
  };
}
