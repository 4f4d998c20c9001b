import type { ChainableCommander, Redis } from "ioredis";
import { decodeCursor, encodeCursor } from "../contract/cursor.js";
import {
  ANONYMOUS,
  type Job,
  type JobCounts,
  type JobPage,
  type JobStatus,
  type ListQuery,
  TERMINAL,
  type WebhookDelivery,
} from "../contract/jobs.js";
import { zeroCounts } from "./record.js";

const STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "canceled"];

/** Redis key names under one prefix; the BullMQ queues live under the same prefix. */
export function redisKeys(prefix: string) {
  const owners = `${prefix}:owner:`;
  return {
    job: (id: string) => `${prefix}:job:${id}`,
    deliveries: (id: string) => `${prefix}:job:${id}:deliveries`,
    /** Every job id, in a sorted set ordered by id (UUIDv7: by creation). */
    all: `${prefix}:jobs`,
    byStatus: (s: JobStatus) => `${prefix}:jobs:${s}`,
    /** The same two indexes for one tenant's jobs. */
    byOwner: (owner: string) => `${owners}${owner}:jobs`,
    byOwnerStatus: (owner: string, s: JobStatus) => `${owners}${owner}:jobs:${s}`,
    /** What comes before the owner in those keys, for the script that moves a job between them. */
    owners,
    /** Finished job ids scored by when they finished, for retention. */
    finished: `${prefix}:finished`,
    idempotency: (key: string) => `${prefix}:idempotency:${key}`,
    /** Pub/sub: a job id whose cancel was requested; a job id that reached a final state. */
    cancelChannel: `${prefix}:cancel`,
    doneChannel: `${prefix}:done`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;

/**
 * Moves a job to another status, keeping the per-status indexes (ARGV[4] .. status) and its owner's
 * (ARGV[6] .. owner .. ':jobs:' .. status, as `byOwnerStatus` names them) in step, only if its
 * status is one of the expected ones (ARGV[3], comma-separated; empty: any); a final status (ARGV[5]
 * a time in ms) enters the finished index. Returns "OK" or the current status.
 */
const setStatusScript = `
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return false end
if ARGV[3] ~= '' then
  local ok = false
  for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur then ok = true end end
  if not ok then return cur end
end
redis.call('ZREM', ARGV[4] .. cur, ARGV[1])
redis.call('ZADD', ARGV[4] .. ARGV[2], 0, ARGV[1])
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner then
  local mine = ARGV[6] .. owner .. ':jobs:'
  redis.call('ZREM', mine .. cur, ARGV[1])
  redis.call('ZADD', mine .. ARGV[2], 0, ARGV[1])
end
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), ARGV[1]) end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 7))
return 'OK'
`;

/**
 * Records a job (KEYS[1] its hash; KEYS[2..5] the indexes it enters) unless its owner already has
 * ARGV[2] jobs queued (KEYS[6]; ARGV[2] 0: no cap), checked in the same step, so that submissions
 * at once, from any number of API processes, cannot pass the cap. ARGV[1]: the id; then the hash's
 * fields and values. Returns 1 when recorded, 0 when refused.
 */
const createScript = `
local cap = tonumber(ARGV[2])
if cap > 0 and redis.call('ZCARD', KEYS[6]) >= cap then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
for i = 2, 5 do redis.call('ZADD', KEYS[i], 0, ARGV[1]) end
return 1`;

/** Appends a delivery to a job's list only while the job exists, so a job forgotten meanwhile leaves no list behind. */
const addDeliveryScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('RPUSH', KEYS[2], ARGV[1]) end
return 0`;

/** A job is a hash: scalar fields as strings, objects as JSON, so that updates never race on one value. */
type Fields = Record<string, string>;

/** How each stored field of a job becomes a string; `deliveries` live in a list of their own. */
const encoders: { [K in keyof Job]?: (value: Job[K]) => string } = {
  id: String,
  owner: String,
  status: String,
  spec: (v) => JSON.stringify(v),
  progress: (v) => JSON.stringify(v),
  createdAt: String,
  startedAt: (v) => v ?? "",
  finishedAt: (v) => v ?? "",
  certificate: (v) => (v ? JSON.stringify(v) : ""),
  error: (v) => (v ? JSON.stringify(v) : ""),
  cancelRequested: (v) => (v ? "1" : "0"),
};

/** The hash fields of the job fields `job` sets: all of them for a whole job, a patch's for a patch. */
function toFields(job: Partial<Job>): [string, string][] {
  return Object.entries(job).flatMap(([k, v]) => {
    const encode = encoders[k as keyof Job] as ((value: unknown) => string) | undefined;
    return encode ? [[k, encode(v)] as [string, string]] : [];
  });
}

function fromFields(f: Fields, deliveries: string[]): Job | null {
  if (!f.id || !f.spec) return null;
  return {
    id: f.id,
    owner: f.owner || ANONYMOUS,
    status: f.status as JobStatus,
    spec: JSON.parse(f.spec),
    progress: f.progress ? JSON.parse(f.progress) : { done: 0, total: 0 },
    createdAt: f.createdAt ?? "",
    startedAt: f.startedAt || null,
    finishedAt: f.finishedAt || null,
    certificate: f.certificate ? JSON.parse(f.certificate) : null,
    error: f.error ? JSON.parse(f.error) : null,
    cancelRequested: f.cancelRequested === "1",
    deliveries: deliveries.map((d) => JSON.parse(d) as WebhookDelivery),
  };
}

/** Job records in Redis, shared by every API process and worker. */
export class RedisRecords {
  readonly keys: RedisKeys;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = redisKeys(prefix);
    if (!("dualrsSetStatus" in redis))
      redis.defineCommand("dualrsSetStatus", { numberOfKeys: 2, lua: setStatusScript });
    if (!("dualrsAddDelivery" in redis))
      redis.defineCommand("dualrsAddDelivery", { numberOfKeys: 2, lua: addDeliveryScript });
    if (!("dualrsCreate" in redis))
      redis.defineCommand("dualrsCreate", { numberOfKeys: 6, lua: createScript });
  }

  /**
   * Records `job`, and whatever `also` adds to the same transaction (its place in its tenant's
   * line, which must then check that the job was recorded); false, and nothing recorded, when its
   * owner already has `maxQueued` jobs queued (0: no cap).
   */
  async create(job: Job, also: (m: ChainableCommander) => void = () => {}, maxQueued = 0): Promise<boolean> {
    const k = this.keys;
    const m = this.redis.multi();
    (m as unknown as Scripts).dualrsCreate(
      k.job(job.id),
      k.all,
      k.byStatus(job.status),
      k.byOwner(job.owner),
      k.byOwnerStatus(job.owner, job.status),
      k.byOwnerStatus(job.owner, "queued"),
      job.id,
      String(maxQueued),
      ...toFields(job).flat(),
    );
    also(m);
    const [created] = await m.exec().then(check);
    return created === 1;
  }

  async get(id: string): Promise<Job | null> {
    const [fields, deliveries] = await this.redis
      .multi()
      .hgetall(this.keys.job(id))
      .lrange(this.keys.deliveries(id), 0, -1)
      .exec()
      .then(check);
    return fromFields(fields as Fields, deliveries as string[]);
  }

  /** Sets `status` and `patch` if the job's status is one of `expected` (any when empty). */
  async setStatus(
    id: string,
    status: JobStatus,
    expected: JobStatus[],
    patch: Partial<Job> = {},
  ): Promise<boolean> {
    const fields = toFields(patch);
    const final = TERMINAL.includes(status) ? String(Date.now()) : "";
    const args = [
      id,
      status,
      expected.join(","),
      this.keys.byStatus("" as JobStatus),
      final,
      this.keys.owners,
      ...fields.flat(),
    ];
    const r = await (this.redis as unknown as Scripts).dualrsSetStatus(
      this.keys.job(id),
      this.keys.finished,
      ...args,
    );
    return r === "OK";
  }

  /** Forgets up to `limit` jobs that finished before `before` (ms since the epoch). */
  async expire(before: number, limit = 100): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.keys.finished, "-inf", `(${before}`, "LIMIT", 0, limit);
    await this.forget(ids);
    return ids.length;
  }

  /** Deletes the records of `ids` (their inputs, certificates, deliveries) and every index entry of theirs. */
  async forget(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const owners = await Promise.all(ids.map((id) => this.redis.hget(this.keys.job(id), "owner")));
    const m = this.redis.multi();
    for (const [i, id] of ids.entries()) {
      const owner = owners[i] || ANONYMOUS;
      m.del(this.keys.job(id), this.keys.deliveries(id)).zrem(this.keys.all, id).zrem(this.keys.finished, id);
      m.zrem(this.keys.byOwner(owner), id);
      for (const s of STATUSES) m.zrem(this.keys.byStatus(s), id).zrem(this.keys.byOwnerStatus(owner, s), id);
    }
    await m.exec().then(check);
  }

  async update(id: string, patch: Partial<Job>): Promise<void> {
    const fields = toFields(patch);
    if (fields.length > 0) await this.redis.hset(this.keys.job(id), Object.fromEntries(fields));
  }

  async addDelivery(id: string, delivery: WebhookDelivery): Promise<void> {
    await (this.redis as unknown as Scripts).dualrsAddDelivery(
      this.keys.job(id),
      this.keys.deliveries(id),
      JSON.stringify(delivery),
    );
  }

  async cancelRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.job(id), "cancelRequested")) === "1";
  }

  async list({ cursor, limit, status, owner }: ListQuery): Promise<JobPage> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const key = this.indexOf(status, owner);
    const ids = await this.redis.zrevrangebylex(key, after ? `(${after}` : "+", "-", "LIMIT", 0, limit + 1);
    const page = ids.slice(0, limit);
    const jobs = await this.getAll(page);
    const last = page.at(-1);
    return { jobs, nextCursor: ids.length > limit && last ? encodeCursor(last) : null };
  }

  /** The sorted set that lists the jobs with `status` (any when absent) of `owner` (any when absent). */
  private indexOf(status: JobStatus | undefined, owner: string | undefined): string {
    if (owner !== undefined)
      return status ? this.keys.byOwnerStatus(owner, status) : this.keys.byOwner(owner);
    return status ? this.keys.byStatus(status) : this.keys.all;
  }

  /** The `limit` oldest jobs with `status`: ids are UUIDv7, so their order is their creation's. */
  async oldest(status: JobStatus, limit: number): Promise<Job[]> {
    const ids = await this.redis.zrangebylex(this.keys.byStatus(status), "-", "+", "LIMIT", 0, limit);
    return this.getAll(ids);
  }

  /** The jobs of `ids` that still exist, in that order. */
  private async getAll(ids: string[]): Promise<Job[]> {
    return (await Promise.all(ids.map((id) => this.get(id)))).filter((j): j is Job => j !== null);
  }

  /** Jobs by status: every owner's, or `owner`'s alone. */
  async counts(owner?: string): Promise<JobCounts> {
    const pipeline = this.redis.multi();
    for (const s of STATUSES) pipeline.zcard(this.indexOf(s, owner));
    const sizes = (await pipeline.exec().then(check)) as number[];
    const counts = zeroCounts();
    STATUSES.forEach((s, i) => {
      counts[s] = sizes[i] ?? 0;
    });
    return counts;
  }
}

/** The scripts defined on the connection. */
interface Scripts {
  dualrsSetStatus(job: string, finished: string, ...args: string[]): Promise<string | null>;
  dualrsAddDelivery(job: string, deliveries: string, delivery: string): Promise<number>;
  dualrsCreate(...keysThenArgs: string[]): Promise<number>;
}

/** The results of a MULTI, or its first error. */
function check(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error("a Redis transaction was aborted");
  return results.map(([e, v]) => {
    if (e) throw e;
    return v;
  });
}
