import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore, type ModelStore } from "../src/runtime/model-store.js";
import {
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobQueue,
} from "../src/server/contract/jobs.js";
import { createRedisQueue, type RedisQueueOptions } from "../src/server/jobs/bullmq.js";
import { newJob } from "../src/server/jobs/record.js";
import { RedisIdempotency } from "../src/server/jobs/redis-idempotency.js";
import { RedisRecords, redisKeys } from "../src/server/jobs/redis-records.js";
import { RedisTurns, turnsKeys } from "../src/server/jobs/redis-turns.js";
import { createRedisWorker, type RedisWorker } from "../src/server/jobs/redis-worker.js";
import { createRunner, type Runner } from "../src/server/jobs/runner.js";
import { costOf, Turns } from "../src/server/jobs/turns.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { expectCapUnderLoad, expectQueuedCap, halfSpaceSpec, until } from "./helpers/jobs.js";
import { type RedisServer, startRedis } from "./helpers/redis.js";

let redis: RedisServer;
let zoo: string;
let store: ModelStore;
let runner: Runner;
const closers: { close(): Promise<void> }[] = [];
let prefixes = 0;

/** A queue on its own key prefix, with a local worker unless `apiOnly`. */
async function open(options: Partial<RedisQueueOptions> & { apiOnly?: boolean } = {}): Promise<JobQueue> {
  const { apiOnly, ...rest } = options;
  const q = await createRedisQueue({
    redisUrl: redis.url,
    prefix: `t${prefixes++}`,
    ...(apiOnly ? {} : { worker: { store, runner, concurrency: 2 } }),
    ...rest,
  });
  closers.unshift(q);
  return q;
}
async function worker(prefix: string): Promise<RedisWorker> {
  const w = await createRedisWorker({ redisUrl: redis.url, prefix, store, runner, concurrency: 2 });
  closers.unshift(w);
  return w;
}
const submit = (q: JobQueue, ...args: Parameters<typeof halfSpaceSpec>) =>
  q.submit(halfSpaceSpec(...args), { fingerprint: "f" }).then((r) => r.job);
const finished = (q: JobQueue, id: string) => q.wait(id, 120_000) as Promise<Job>;

beforeAll(async () => {
  redis = await startRedis();
  zoo = await writeHalfSpaceZoo();
  store = localModelStore(zoo);
  runner = createRunner({ store, concurrency: 2, threads: 1, providers: ["cpu"], progressIntervalMs: 0 });
});

afterAll(async () => {
  for (const c of closers) await c.close();
  await runner?.close();
  await redis?.destroy();
  await rm(zoo, { recursive: true, force: true });
});

describe("BullMQ queue", () => {
  it("runs a job to the certificate the embedded queue gives, with progress", async () => {
    const q = await open();
    const accepted = await submit(q, { n: 1000 });
    expect(accepted).toMatchObject({ status: "queued", certificate: null });
    const job = await finished(q, accepted.id);
    expect(job.status).toBe("succeeded");
    expect(job.progress).toEqual({ done: 2128, total: 2128 });
    expect(job.certificate).toEqual(await runner.run(halfSpaceSpec({ n: 1000 })));
    expect(await q.get(job.id)).toEqual(job);
    expect(await q.get("00000000-0000-7000-8000-000000000000")).toBeNull();
    expect(await q.counts()).toEqual({ queued: 0, running: 0, succeeded: 1, failed: 0, canceled: 0 });
    expect(await q.readiness()).toMatchObject({ ready: true });
  });

  it("shares job records and idempotency keys between API processes", async () => {
    const a = await open({ apiOnly: true });
    const prefix = `t${prefixes - 1}`;
    const b = await createRedisQueue({ redisUrl: redis.url, prefix });
    closers.unshift(b);
    const spec = halfSpaceSpec();
    const [first, concurrent] = await Promise.allSettled([
      a.submit(spec, { idempotencyKey: "k", fingerprint: "x" }),
      b.submit(spec, { idempotencyKey: "k", fingerprint: "x" }),
    ]);
    // Exactly one job is made. The other request is refused while the first is in flight, or,
    // when the first has enqueued before it looks (two sockets race), replays that same job.
    const made = [first, concurrent].flatMap((r) =>
      r.status === "fulfilled" && !r.value.replayed ? [r.value] : [],
    );
    expect(made).toHaveLength(1);
    const id = made[0]?.job.id ?? "";
    for (const r of [first, concurrent]) {
      if (r.status === "rejected") expect(r.reason).toBeInstanceOf(IdempotencyInFlightError);
      else expect(r.value.job.id).toBe(id);
    }
    expect(await b.submit(spec, { idempotencyKey: "k", fingerprint: "x" })).toMatchObject({
      replayed: true,
      job: { id },
    });
    await expect(a.submit(spec, { idempotencyKey: "k", fingerprint: "y" })).rejects.toBeInstanceOf(
      IdempotencyMismatchError,
    );
    // No worker yet: the job waits; one that starts later takes it.
    expect((await b.get(id))?.status).toBe("queued");
    await worker(prefix);
    expect((await finished(a, id)).status).toBe("succeeded");
  });

  it("serves tenants in turn, each tenant's jobs in the order they came", async () => {
    const q = await open({ apiOnly: true, readyJobs: 1 });
    const prefix = `t${prefixes - 1}`;
    const as = (owner: string, seed: number) =>
      q.submit(halfSpaceSpec({ seed }), { owner, fingerprint: String(seed) }).then((r) => r.job.id);
    const seeds = new Map<string, string>();
    for (const seed of [1, 2, 3, 4]) seeds.set(await as("team-a", seed), `team-a:${seed}`);
    for (const seed of [5, 6]) seeds.set(await as("team-b", seed), `team-b:${seed}`);
    // One job waits on BullMQ; team-b's wait in its own line, not behind team-a's backlog.
    const keys = turnsKeys(prefix);
    const connection = new Redis(redis.url);
    try {
      expect(await connection.zcard(keys.handed)).toBe(1);
      expect(await connection.zcard(keys.line("team-a"))).toBe(3);
      expect(await connection.zcard(keys.line("team-b"))).toBe(2);
      // team-a's handed job counts with its line.
      expect(await q.queuedByTenant()).toEqual(
        new Map([
          ["team-a", 4],
          ["team-b", 2],
        ]),
      );
    } finally {
      connection.disconnect();
    }
    const started: string[] = [];
    const log = (line: string) => {
      const id = /^job (\S+) running$/.exec(line)?.[1];
      if (id) started.push(seeds.get(id) ?? id);
    };
    const w = await createRedisWorker({
      redisUrl: redis.url,
      prefix,
      store,
      runner,
      concurrency: 1,
      readyJobs: 1,
      log,
    });
    closers.unshift(w);
    for (const id of seeds.keys()) expect((await finished(q, id)).status).toBe("succeeded");
    // team-a's first job was on BullMQ before team-b submitted; from then on the two alternate.
    expect(started).toEqual(["team-a:1", "team-b:5", "team-a:2", "team-b:6", "team-a:3", "team-a:4"]);
  });

  it("hands jobs over in the order the embedded queue starts them, by the draws they ask for and weights", async () => {
    const prefix = `t${prefixes++}`;
    const connection = new Redis(redis.url);
    const queue = new Queue<{ id: string }>("certify", { connection, prefix });
    try {
      const weights = { c: 2 };
      const turns = new RedisTurns(connection, prefix, queue, 1000, weights);
      const local = new Turns();
      const seeds = new Map<string, string>();
      // Each tenant's jobs ask for another number of draws, c's at weight 2 (so they count as
      // many as b's); names sort in the order tenants join.
      const jobs = [
        ...[1, 2, 3].map((seed) => ["a", seed, 3136] as const),
        ...[4, 5, 6, 7, 8].map((seed) => ["b", seed, 736] as const),
        ...[9, 10, 11, 12].map((seed) => ["c", seed, 1536] as const),
      ];
      for (const [owner, seed, n] of jobs) {
        const job = newJob(halfSpaceSpec({ seed, n }), owner);
        seeds.set(job.id, `${owner}${seed}`);
        await turns.admit(connection.multi(), job).exec();
        local.push(owner, job.id, costOf(job.spec, owner === "c" ? weights.c : 1));
      }
      const handed: string[] = [];
      for (let id = await turns.take(); id !== null; id = await turns.take()) handed.push(id);
      const expected: string[] = [];
      for (let id = local.next(); id !== undefined; id = local.next()) expected.push(id);
      expect(handed.map((id) => seeds.get(id))).toEqual(expected.map((id) => seeds.get(id)));
      expect(handed.map((id) => seeds.get(id)).slice(0, 6)).toEqual(["a1", "b4", "c9", "b5", "c10", "b6"]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it("lists jobs newest first, a page at a time, by status, and finds the oldest queued", async () => {
    const q = await open({ apiOnly: true });
    const ids: string[] = [];
    for (const seed of [1, 2, 3, 4, 5]) ids.push((await submit(q, { seed })).id);
    await q.cancel(ids[1] ?? "");
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await q.list({ limit: 2, cursor });
      seen.push(...r.jobs.map((j) => j.id));
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    expect((await q.list({ limit: 10, status: "canceled" })).jobs.map((j) => j.id)).toEqual([ids[1]]);
    expect((await q.list({ limit: 10, status: "queued" })).jobs).toHaveLength(4);
    expect(await q.counts()).toMatchObject({ queued: 4, canceled: 1 });
    expect((await q.oldestQueued())?.id).toBe(ids[0]);
    await q.cancel(ids[0] ?? "");
    expect((await q.oldestQueued())?.id).toBe(ids[2]);
  });

  it("keeps each owner's indexes in step as its jobs run, are canceled and expire", async () => {
    const q = await open();
    const keys = redisKeys(`t${prefixes - 1}`);
    const connection = new Redis(redis.url);
    try {
      const as = (owner: string, seed: number) =>
        q.submit(halfSpaceSpec({ seed }), { owner, fingerprint: String(seed) }).then((r) => r.job);
      const mine = [await as("team-a", 1), await as("team-a", 2)];
      const theirs = await as("team-b", 3);
      await q.cancel(theirs.id);
      expect((await finished(q, theirs.id)).status).toBe("canceled");
      for (const job of mine) expect((await finished(q, job.id)).status).toBe("succeeded");
      const ids = async (query: Parameters<JobQueue["list"]>[0]) =>
        (await q.list(query)).jobs.map((j) => j.id);
      expect(await ids({ limit: 10, owner: "team-a" })).toEqual([mine[1]?.id, mine[0]?.id]);
      expect(await ids({ limit: 1, owner: "team-a", status: "succeeded" })).toEqual([mine[1]?.id]);
      expect(await ids({ limit: 10, owner: "team-a", status: "queued" })).toEqual([]);
      expect(await ids({ limit: 10, owner: "team-a", status: "running" })).toEqual([]);
      expect(await ids({ limit: 10, owner: "team-b", status: "canceled" })).toEqual([theirs.id]);
      expect(await ids({ limit: 10, owner: "team-c" })).toEqual([]);
      expect(await ids({ limit: 10 })).toHaveLength(3);
      expect((await q.get(theirs.id))?.owner).toBe("team-b");

      // Forgotten now, or past its retention: either way no index keeps the job.
      expect(await q.forget(theirs.id)).toBe(true);
      expect(await q.forget(theirs.id)).toBe(false);
      // A delivery that was under way when its job was forgotten leaves nothing behind.
      const records = new RedisRecords(connection, `t${prefixes - 1}`);
      const delivery = {
        id: "msg",
        event: "job.canceled",
        attempt: 1,
        at: "",
        status: 200,
        ok: true,
      } as const;
      await records.addDelivery(theirs.id, delivery);
      expect(await connection.exists(keys.deliveries(theirs.id))).toBe(0);
      await records.addDelivery(mine[0]?.id ?? "", delivery);
      expect((await q.get(mine[0]?.id ?? ""))?.deliveries).toEqual([delivery]);
      expect(await ids({ limit: 10, owner: "team-b" })).toEqual([]);
      expect(await records.expire(Date.now() + 1)).toBe(2);
      const left = await connection.keys(`${keys.owners}*`);
      expect(left).toEqual([]);
    } finally {
      connection.disconnect();
    }
  });

  it("refuses an owner's job past maxQueued, but replays an accepted one and takes other owners'", async () => {
    await expectQueuedCap(await open({ apiOnly: true }));
  });

  it("holds maxQueued under 50 simultaneous submissions, in the transaction that records each job", async () => {
    await expectCapUnderLoad(await open({ apiOnly: true }));
    // A refused job is not in its tenant's line either: the line and BullMQ hold the 10 queued.
    const keys = turnsKeys(`t${prefixes - 1}`);
    const connection = new Redis(redis.url);
    try {
      const held = [
        ...(await connection.zrange(keys.line("team-a"), 0, -1)),
        ...(await connection.zrange(keys.handed, 0, -1)),
      ];
      expect(held).toHaveLength(10);
    } finally {
      connection.disconnect();
    }
  });

  it("cancels a queued job at once, and a running one in the worker that runs it", async () => {
    const q = await open({ apiOnly: true });
    const prefix = `t${prefixes - 1}`;
    const queued = await submit(q);
    expect(await q.cancel(queued.id)).toMatchObject({ status: "canceled", cancelRequested: true });
    await worker(prefix);
    const long = await submit(q, { n: 1e9, batchSize: 1000 });
    await until(async () => ((await q.get(long.id))?.progress.done ?? 0) > 0, "the long job to run");
    expect(await q.cancel(long.id)).toMatchObject({ status: "running", cancelRequested: true });
    expect(await finished(q, long.id)).toMatchObject({ status: "canceled", certificate: null });
    expect((await finished(q, (await submit(q)).id)).status).toBe("succeeded");
  });

  it("renews the lock of a job that runs longer than it, so the job runs once", async () => {
    const q = await open({ apiOnly: true });
    const lines: string[] = [];
    const w = await createRedisWorker({
      redisUrl: redis.url,
      prefix: `t${prefixes - 1}`,
      store,
      runner,
      lockDurationMs: 1000,
      stalledIntervalMs: 200,
      maxStalledCount: 0,
      log: (line) => lines.push(line),
    });
    closers.unshift(w);
    const { job } = await q.submit(halfSpaceSpec({ n: 1e9, batchSize: 1000 }), { fingerprint: "l" });
    await until(async () => ((await q.get(job.id))?.progress.done ?? 0) > 0, "the job to run");
    // Several lock durations: a lock that lapsed would make the job stall, and fail (maxStalledCount 0).
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await q.get(job.id))?.status).toBe("running");
    await q.cancel(job.id);
    expect((await finished(q, job.id)).status).toBe("canceled");
    // The worker logs once its write is answered, which may come after a reader sees the status.
    await until(() => lines.length >= 2, "the worker to log the cancel");
    expect(lines).toEqual([`job ${job.id} running`, `job ${job.id} canceled`]);
  });

  it("forgets finished jobs past their retention, and only those", async () => {
    const q = await open({ apiOnly: true });
    const prefix = `t${prefixes - 1}`;
    const connection = new Redis(redis.url);
    try {
      const waiting = await submit(q, { seed: 1 });
      const canceled = await submit(q, { seed: 2 });
      await q.cancel(canceled.id);
      const records = new RedisRecords(connection, prefix);
      expect(await records.expire(Date.now() - 60_000)).toBe(0);
      expect(await records.expire(Date.now() + 1)).toBe(1);
      expect(await q.get(canceled.id)).toBeNull();
      expect((await q.list({ limit: 10 })).jobs.map((j) => j.id)).toEqual([waiting.id]);
      expect(await q.counts()).toEqual({ queued: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 });
    } finally {
      connection.disconnect();
    }
  });

  it("forgets finished jobs past their retention while no worker finishes any", async () => {
    const q = await open({ apiOnly: true, retentionMs: 200, orphanSweepMs: 50 });
    const canceled = await submit(q, { seed: 3 });
    await q.cancel(canceled.id);
    const waiting = await submit(q, { seed: 4 });
    await until(async () => (await q.get(canceled.id)) === null, "the canceled job to be forgotten");
    expect((await q.get(waiting.id))?.status).toBe("queued");
  });

  describe("an API process that dies mid-request", () => {
    /** The state a dying API process leaves: the key claimed for a job, the job recorded or not. */
    async function diedAfter(prefix: string, key: string, recorded: boolean): Promise<Job> {
      const connection = new Redis(redis.url);
      try {
        const job = newJob(halfSpaceSpec({ seed: 7 }));
        const idempotency = new RedisIdempotency(connection, redisKeys(prefix), 60_000, 60_000);
        expect(await idempotency.claim(key, "f", job.id, async () => null)).toBeNull();
        if (recorded) await new RedisRecords(connection, prefix).create(job);
        return job;
      } finally {
        connection.disconnect();
      }
    }

    it("leaves a recorded job that the sweep enqueues, and its key replays that job", async () => {
      const prefix = `t${prefixes}`;
      const orphan = await diedAfter(prefix, "k", true);
      const q = await open({ orphanSweepMs: 50, orphanAgeMs: 0, idempotencyLeaseMs: 0 });
      expect((await finished(q, orphan.id)).status).toBe("succeeded");
      const again = await q.submit(halfSpaceSpec({ seed: 7 }), { idempotencyKey: "k", fingerprint: "f" });
      expect(again).toMatchObject({ replayed: true, job: { id: orphan.id } });
    });

    it("leaves a job taken from its line but not on BullMQ, which the sweep hands over", async () => {
      const prefix = `t${prefixes}`;
      const connection = new Redis(redis.url);
      const job = newJob(halfSpaceSpec({ seed: 8 }), "team-a");
      try {
        await new RedisRecords(connection, prefix).create(job);
        await connection.zadd(turnsKeys(prefix).handed, Date.now() - 60_000, job.id);
      } finally {
        connection.disconnect();
      }
      const q = await open({ orphanSweepMs: 50, orphanAgeMs: 1000 });
      expect((await finished(q, job.id)).status).toBe("succeeded");
    });

    it("frees a key whose job it never recorded once the lease is over, not before", async () => {
      const prefix = `t${prefixes}`;
      const lost = await diedAfter(prefix, "k", false);
      const spec = halfSpaceSpec({ seed: 7 });
      const held = await open({ apiOnly: true });
      await expect(held.submit(spec, { idempotencyKey: "k", fingerprint: "f" })).rejects.toBeInstanceOf(
        IdempotencyInFlightError,
      );
      const q = await createRedisQueue({ redisUrl: redis.url, prefix, idempotencyLeaseMs: 0 });
      closers.unshift(q);
      const { job, replayed } = await q.submit(spec, { idempotencyKey: "k", fingerprint: "f" });
      expect(replayed).toBe(false);
      expect(job.id).not.toBe(lost.id);
      expect(await q.submit(spec, { idempotencyKey: "k", fingerprint: "f" })).toMatchObject({
        replayed: true,
        job: { id: job.id },
      });
    });
  });

  it("fails a job whose certification fails, once", async () => {
    const q = await open();
    const { job } = await q.submit({ ...halfSpaceSpec(), certifier: "missing" }, { fingerprint: "m" });
    const failed = await finished(q, job.id);
    expect(failed).toMatchObject({ status: "failed", error: { type: "/problems/certifier-unavailable" } });
  });

  it("delivers webhooks through the queue, signed, with each attempt on the job", async () => {
    const secret = `whsec_${randomBytes(24).toString("base64")}`;
    const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
    const statuses = [500];
    const server: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.statusCode = statuses.shift() ?? 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const q = await open({ webhooks: { secret, allowPrivate: true, backoffMs: 10 } });
      const { job } = await q.submit(halfSpaceSpec({}, { webhook: { url, events: ["job.succeeded"] } }), {
        fingerprint: "w",
      });
      expect((await finished(q, job.id)).status).toBe("succeeded");
      await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 2, "two attempts");
      expect((await q.get(job.id))?.deliveries.map((d) => [d.event, d.attempt, d.status, d.ok])).toEqual([
        ["job.succeeded", 1, 500, false],
        ["job.succeeded", 2, 204, true],
      ]);
      const verifier = new Webhook(secret);
      const payload = verifier.verify(
        received[1]?.body ?? "",
        received[1]?.headers as Record<string, string>,
      );
      expect(payload).toMatchObject({ type: "job.succeeded", data: { id: job.id, status: "succeeded" } });
    } finally {
      server.close();
    }
  });
});
