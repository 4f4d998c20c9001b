import type { Redis } from "ioredis";
import { IdempotencyInFlightError, IdempotencyMismatchError } from "../contract/jobs.js";
import type { RedisKeys } from "./redis-records.js";

/** What an Idempotency-Key stands for: the request's body and the job it made, once enqueued. */
interface KeyRecord {
  fingerprint: string;
  id: string;
  /** When the request claimed the key (ms). */
  since: number;
  enqueued: boolean;
}

// Deletes the key only if it still holds what the caller read, so two requests that both find a
// stale claim cannot delete each other's fresh one.
const deleteIfScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Idempotency keys shared by every API process. A request claims its key with the id of the job it
 * is about to make and marks it enqueued when done. A claim that was never marked is a request still
 * in flight (409) for `leaseMs`; after that its API process is taken to have died mid-request: the
 * job it recorded is replayed (recorded, it is in its tenant's line), or, when it recorded none, the key is
 * free again. Without the lease such a key would answer 409 until it expired, a day later.
 */
export class RedisIdempotency {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlMs: number,
    private readonly leaseMs: number,
  ) {}

  /**
   * Claims `key` for job `id` (null), or answers the job an earlier request with the same body made,
   * as `find` reads it. Throws on another body, or while the earlier request is in flight.
   */
  async claim<T>(
    key: string,
    fingerprint: string,
    id: string,
    find: (id: string) => Promise<T | null>,
  ): Promise<T | null> {
    const k = this.keys.idempotency(key);
    const mine: KeyRecord = { fingerprint, id, since: Date.now(), enqueued: false };
    if ((await this.redis.set(k, JSON.stringify(mine), "PX", this.ttlMs, "NX")) === "OK") return null;
    const raw = await this.redis.get(k);
    if (raw === null) return this.claim(key, fingerprint, id, find);
    const seen = JSON.parse(raw) as KeyRecord;
    if (seen.fingerprint !== fingerprint) {
      throw new IdempotencyMismatchError("this Idempotency-Key was used with another request body");
    }
    if (!seen.enqueued && Date.now() - seen.since < this.leaseMs) {
      throw new IdempotencyInFlightError("a request with this Idempotency-Key is still being processed");
    }
    const job = await find(seen.id);
    if (job !== null) return job;
    // Its job is gone (expired) or was never recorded: the key is free.
    await this.redis.eval(deleteIfScript, 1, k, raw);
    return this.claim(key, fingerprint, id, find);
  }

  /** The claimed key's job is recorded and on the queue: replay it from now on, for the key's TTL. */
  async enqueued(key: string, fingerprint: string, id: string): Promise<void> {
    const record: KeyRecord = { fingerprint, id, since: Date.now(), enqueued: true };
    await this.redis.set(this.keys.idempotency(key), JSON.stringify(record), "PX", this.ttlMs);
  }

  /** The request failed before its job was enqueued: free the key for a retry. */
  async release(key: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(key));
  }
}
