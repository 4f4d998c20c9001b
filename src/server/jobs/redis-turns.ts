import type { Queue } from "bullmq";
import type { ChainableCommander, Redis } from "ioredis";

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
    /** Tenants with jobs in their lines, in the order they are served; each appears once. */
    rotation: `${prefix}:turns`,
    /** The same tenants as a set, so that a tenant joins the rotation only once. */
    tenants: `${prefix}:turns:tenants`,
    /** A tenant's line: queued job ids, all scored 0, so ordered by id (UUIDv7: by creation). */
    line: (owner: string) => `${prefix}:turns:line:${owner}`,
    /** Job ids handed to BullMQ and not yet taken by a worker, scored by when (ms). */
    handed: `${prefix}:turns:handed`,
  };
}

// KEYS: line, tenants, rotation. ARGV: id, owner.
const admitScript = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[3], ARGV[2]) end
return 1`;

// KEYS: rotation, tenants, handed. ARGV: line key prefix, now (ms), ready jobs.
// The tenant at the head of the rotation gives up its oldest job and goes to the back while it has
// more; a tenant whose line a cancel emptied leaves the rotation.
const takeScript = `
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then return false end
for _ = 1, redis.call('LLEN', KEYS[1]) do
  local owner = redis.call('LPOP', KEYS[1])
  local line = ARGV[1] .. owner
  local id = redis.call('ZRANGE', line, 0, 0)[1]
  if id then redis.call('ZREM', line, id) end
  if redis.call('ZCARD', line) > 0 then
    redis.call('RPUSH', KEYS[1], owner)
  else
    redis.call('SREM', KEYS[2], owner)
  end
  if id then
    redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), id)
    return id
  end
end
return false`;

interface Scripts {
  dualrsAdmit(line: string, tenants: string, rotation: string, id: string, owner: string): Promise<number>;
  dualrsTake(rotation: string, tenants: string, handed: string, ...args: string[]): Promise<string | null>;
}

/**
 * Tenants take turns on BullMQ, as on the embedded queue (turns.ts): a job is accepted into its
 * tenant's line in Redis, and only `ready` jobs at a time are handed to BullMQ, one tenant after
 * another, so that one tenant's backlog waits in its own line instead of ahead of everyone's jobs.
 * API processes hand jobs over as they are submitted, workers as they take them: whoever frees a
 * place fills it. A job is in a line or handed from the transaction that records it until a worker
 * takes it, so none is lost between the steps; `recover` finishes a handover cut short.
 */
export class RedisTurns {
  readonly keys: ReturnType<typeof turnsKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly queue: Queue<{ id: string }>,
    private readonly ready = READY_JOBS,
  ) {
    this.keys = turnsKeys(prefix);
    if (!("dualrsAdmit" in redis)) redis.defineCommand("dualrsAdmit", { numberOfKeys: 3, lua: admitScript });
    if (!("dualrsTake" in redis)) redis.defineCommand("dualrsTake", { numberOfKeys: 3, lua: takeScript });
  }

  /** Puts job `id` at the end of `owner`'s line, in the transaction `m` (the one that records the job). */
  admit(m: ChainableCommander, owner: string, id: string): ChainableCommander {
    const k = this.keys;
    return (m as unknown as Scripts & ChainableCommander).dualrsAdmit(
      k.line(owner),
      k.tenants,
      k.rotation,
      id,
      owner,
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
    return (await this.redis.zrem(this.keys.line(owner), id)) === 1;
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

  private async take(): Promise<string | null> {
    const k = this.keys;
    return (this.redis as unknown as Scripts).dualrsTake(
      k.rotation,
      k.tenants,
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
