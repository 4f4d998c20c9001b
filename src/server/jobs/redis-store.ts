import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Job, JobStatus } from "../contract/jobs.js";
import type { WebhookOptions } from "../webhooks/dispatcher.js";
import type { LifecyclePorts } from "./lifecycle.js";
import type { JobStore, Lines, Notices, QueueReads } from "./ports.js";
import { RedisIdempotency } from "./redis-idempotency.js";
import { RedisRecords } from "./redis-records.js";
import { RedisTurns } from "./redis-turns.js";
import { webhookQueue } from "./redis-webhooks.js";

/** Job records in Redis as the lifecycle's store; a job is recorded and put in its line in one transaction. */
export class RedisStore implements JobStore {
  constructor(
    readonly records: RedisRecords,
    private readonly turns: RedisTurns,
  ) {}

  get = (id: string) => this.records.get(id);

  create(job: Job, maxQueued: number) {
    // The line takes the job only if it was recorded, in the transaction that checks the cap.
    return this.records.create(job, (m) => this.turns.admit(m, job, true), maxQueued);
  }

  async move(id: string, status: JobStatus, expected: JobStatus[], patch: Partial<Job>) {
    return (await this.records.setStatus(id, status, expected, patch)) ? this.records.get(id) : null;
  }

  update = (id: string, patch: Partial<Job>) => this.records.update(id, patch);
  progress = (id: string, progress: Job["progress"]) => this.records.update(id, { progress });
  forget = (ids: string[]) => this.records.forget(ids);

  async expire(before: number) {
    await this.records.expire(before);
  }

  reads(): QueueReads {
    const { records, turns } = this;
    return {
      get: (id) => records.get(id),
      list: (query) => records.list(query),
      counts: (owner) => records.counts(owner),
      oldestQueued: async () => (await records.oldest("queued", 1))[0] ?? null,
      async queuedByTenant() {
        const tenants = await turns.tenants((id) => records.redis.hget(records.keys.job(id), "owner"));
        const counts = await Promise.all(
          [...tenants].map(async (t) => [t, (await records.counts(t)).queued] as const),
        );
        return new Map(counts.filter(([, n]) => n > 0));
      },
    };
  }
}

/** The tenants' lines in Redis, with BullMQ's waiting jobs at their end. */
export function redisLines(turns: RedisTurns, queue: Queue<{ id: string }>): Lines {
  return {
    /** Takes a queued job out of its line, or off BullMQ; false when a worker has it already. */
    async withdraw(job) {
      if (await turns.withdraw(job.owner, job.id)) return true;
      if ((await queue.remove(job.id)) !== 1) return false;
      await turns.taken(job.id);
      return true;
    },
    feed: () => turns.feed(),
  };
}

export interface RedisPortOptions {
  redis: Redis;
  prefix: string;
  queue: Queue<{ id: string }>;
  webhooks: WebhookOptions;
  retentionMs: number;
  readyJobs?: number | undefined;
  weights?: Readonly<Record<string, number>> | undefined;
  idempotencyTtlMs?: number | undefined;
  idempotencyLeaseMs?: number | undefined;
  /** Whoever waits on a job here: `watch` of the notices. */
  watch?: Notices["watch"] | undefined;
}

/**
 * The lifecycle's ports on Redis, the same for API processes and workers: news of a finished job
 * goes out on the done channel, webhooks through their BullMQ queue; `stop` reaches the worker
 * that runs a job through the cancel channel.
 */
export function redisPorts(o: RedisPortOptions) {
  const records = new RedisRecords(o.redis, o.prefix);
  const turns = new RedisTurns(o.redis, o.prefix, o.queue, o.readyJobs, o.weights);
  const deliveries = webhookQueue(o.redis, o.prefix, o.webhooks);
  const keys = records.keys;
  const ttl = o.idempotencyTtlMs ?? 24 * 3600_000;
  const idempotent = new RedisIdempotency(o.redis, keys, ttl, o.idempotencyLeaseMs ?? 30_000);
  const store = new RedisStore(records, turns);
  const ports: LifecyclePorts = {
    store,
    lines: redisLines(turns, o.queue),
    idempotency: {
      claim: (key, fingerprint, id) => idempotent.claim(key, fingerprint, id, (seen) => records.get(seen)),
      enqueued: (key, fingerprint, id) => idempotent.enqueued(key, fingerprint, id),
      release: (key) => idempotent.release(key),
    },
    notices: {
      deliver: (job, event) => deliveries.enqueue(job, event),
      finished: async (job) => void (await o.redis.publish(keys.doneChannel, job.id)),
      watch: o.watch ?? (() => () => {}),
      // Messages are lost while Redis restarts; a slow poll covers that.
      pollMs: 1000,
    },
    stopper: { stop: async (id) => void (await o.redis.publish(keys.cancelChannel, id)) },
    retentionMs: o.retentionMs,
  };
  return { ports, records, turns, deliveries, store };
}
