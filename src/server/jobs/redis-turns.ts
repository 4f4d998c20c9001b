import type { Queue } from "bullmq";
import type { ChainableCommander, Redis } from "ioredis";
import type { Job } from "../contract/jobs.js";
import { redisKeys } from "./redis-records.js";
import { costOf } from "./turns.js";

/** Jobs kept waiting on BullMQ for the next free worker, unless configured otherwise. */
export const READY_JOBS = 2;

/** A certification job on BullMQ: retried while Redis fails it (a model error is final, not thrown). */
const JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

/** Key names under the prefix the job records and BullMQ use. */
export function turnsKeys(prefix: string) {
  return {
    /** Tenants with jobs in their lines, scored by where their next job starts (turns.ts). */
    waiting: `${prefix}:turns`,
    /** Every tenant's virtual time, kept while it is not behind the queue's. */
    served: `${prefix}:turns:served`,
    /** The virtual time: where the job last handed over began. */
    now: `${prefix}:turns:now`,
    /** A tenant's line: queued job ids, all scored 0, so ordered by id (UUIDv7: by creation). */
    line: (owner: string) => `${prefix}:turns:line:${owner}`,
    /** What each job in a line costs (costOf). */
    cost: `${prefix}:turns:cost`,
    /** Job ids handed to BullMQ and not yet taken by a worker, scored by when (ms). */
    handed: `${prefix}:turns:handed`,
  };
}

// Scores are written with %.0f: Lua's own number format keeps 14 digits only.
// KEYS: line, cost, waiting, served, now, the job's record. ARGV: id, owner, cost, '1' to admit it
// only if recorded (the record may have been refused in the same transaction: its owner's cap).
// A tenant that was not waiting joins at the virtual time, or its own if that is later.
const admitScript = `
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[6]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  local start = tonumber(redis.call('GET', KEYS[5]) or '0')
  local own = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[2]) or '0')
  if own > start then start = own end
  redis.call('ZADD', KEYS[3], string.format('%.0f', start), ARGV[2])
end
return 1`;

// KEYS: waiting, served, now, cost, handed. ARGV: line key prefix, now (ms), ready jobs.
// The tenant whose next job starts first gives up its oldest; a tenant whose line a cancel emptied
// leaves the turns. Ties go to the tenant whose name sorts first.
const takeScript = `
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[3]) then return false end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #head == 0 then return false end
  local owner, start = head[1], tonumber(head[2])
  local line = ARGV[1] .. owner
  local id = redis.call('ZRANGE', line, 0, 0)[1]
  if id then
    local tag = string.format('%.0f', start + tonumber(redis.call('HGET', KEYS[4], id) or '1'))
    local at = string.format('%.0f', start)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', line, id)
    redis.call('SET', KEYS[3], at)
    redis.call('ZADD', KEYS[2], tag, owner)
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. at)
    if redis.call('ZCARD', line) > 0 then
      redis.call('ZADD', KEYS[1], tag, owner)
    else
      redis.call('ZREM', KEYS[1], owner)
    end
    redis.call('ZADD', KEYS[5], ARGV[2], id)
    return id
  end
  redis.call('ZREM', KEYS[1], owner)
end`;

interface Scripts {
  dualrsAdmit(...keysThenArgs: string[]): Promise<number>;
  dualrsTake(...keysThenArgs: string[]): Promise<string | null>;
}

/**
 * Tenants take turns on BullMQ as on the embedded queue (turns.ts, the same start-time fair
 * queuing): a job is accepted into its tenant's line in Redis, and only `ready` jobs at a time are
 * handed to BullMQ, in turn, so that one tenant's backlog waits in its own line instead of ahead of
 * everyone's jobs. API processes hand jobs over as they are submitted, workers as they take them:
 * whoever frees a place fills it. A job is in a line or handed from the transaction that records
 * it until a worker takes it, so none is lost between the steps; `recover` finishes a handover cut
 * short.
 */
export class RedisTurns {
  readonly keys: ReturnType<typeof turnsKeys>;
  private readonly record: (id: string) => string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly queue: Queue<{ id: string }>,
    private readonly ready = READY_JOBS,
    /** Tenants' shares of the workers (turns.ts); a tenant not named has weight 1. */
    private readonly weights: Readonly<Record<string, number>> = {},
  ) {
    this.keys = turnsKeys(prefix);
    this.record = redisKeys(prefix).job;
    if (!("dualrsAdmit" in redis)) redis.defineCommand("dualrsAdmit", { numberOfKeys: 6, lua: admitScript });
    if (!("dualrsTake" in redis)) redis.defineCommand("dualrsTake", { numberOfKeys: 5, lua: takeScript });
  }

  /**
   * Puts `job` at the end of its tenant's line, in the transaction `m` (the one that records it);
   * with `ifRecorded`, only if its record exists by then.
   */
  admit(m: ChainableCommander, job: Job, ifRecorded = false): ChainableCommander {
    const k = this.keys;
    return (m as unknown as Scripts).dualrsAdmit(
      k.line(job.owner),
      k.cost,
      k.waiting,
      k.served,
      k.now,
      this.record(job.id),
      job.id,
      job.owner,
      String(costOf(job.spec, this.weights[job.owner])),
      ifRecorded ? "1" : "0",
    ) as unknown as ChainableCommander;
  }

  /** Hands jobs to BullMQ, a tenant at a time, until `ready` of them wait there. */
  async feed(): Promise<void> {
    for (let id = await this.take(); id !== null; id = await this.take()) await this.enqueue(id);
  }

  /** A worker took job `id` from BullMQ, or a cancel removed it: its place there is free. */
  async taken(id: string): Promise<void> {
    await this.redis.zrem(this.keys.handed, id);
  }

  /** Takes job `id` out of `owner`'s line (a cancel); false when it is not there. */
  async withdraw(owner: string, id: string): Promise<boolean> {
    const [[, removed] = []] =
      (await this.redis.multi().zrem(this.keys.line(owner), id).hdel(this.keys.cost, id).exec()) ?? [];
    return removed === 1;
  }

  /** The tenants with jobs in their lines or handed to BullMQ (`ownerOf` reads a handed job's). */
  async tenants(ownerOf: (id: string) => Promise<string | null>): Promise<Set<string>> {
    const [waiting, handed] = await Promise.all([
      this.redis.zrange(this.keys.waiting, 0, -1),
      this.redis.zrange(this.keys.handed, 0, -1),
    ]);
    const owners = await Promise.all(handed.map(ownerOf));
    return new Set([...waiting, ...owners.filter((o): o is string => o !== null)]);
  }

  /** Whether job `id` waits in `owner`'s line or has been handed to BullMQ. */
  async holds(owner: string, id: string): Promise<boolean> {
    const [inLine, handed] = await Promise.all([
      this.redis.zscore(this.keys.line(owner), id),
      this.redis.zscore(this.keys.handed, id),
    ]);
    return inLine !== null || handed !== null;
  }

  /**
   * Handed jobs older than `minAgeMs` that BullMQ does not hold: a process that died between taking
   * a job and adding it to BullMQ left them, so they are added now (`stillQueued` says which are
   * still to run). One that BullMQ holds but no longer as waiting was taken by a worker that could
   * not say so; its place is freed.
   */
  async recover(stillQueued: (id: string) => Promise<boolean>, minAgeMs: number, now = Date.now()) {
    const ids = await this.redis.zrangebyscore(this.keys.handed, "-inf", now - minAgeMs, "LIMIT", 0, 100);
    for (const id of ids) {
      const job = await this.queue.getJob(id);
      const state = job ? await job.getState() : "unknown";
      if (state === "waiting" || state === "prioritized") continue;
      if (!job && (await stillQueued(id))) await this.enqueue(id);
      else await this.taken(id);
    }
  }

  /** Hands over the next job in turn: out of its line, into the handed set (not yet onto BullMQ). */
  async take(): Promise<string | null> {
    const k = this.keys;
    return (this.redis as unknown as Scripts).dualrsTake(
      k.waiting,
      k.served,
      k.now,
      k.cost,
      k.handed,
      k.line(""),
      String(Date.now()),
      String(this.ready),
    );
  }

  /** Adding a job id BullMQ already holds does nothing, so a handover may be repeated safely. */
  private async enqueue(id: string): Promise<void> {
    await this.queue.add("certify", { id }, { jobId: id, ...JOB_OPTIONS });
  }
}
