import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore, type ModelStore } from "../src/runtime/model-store.js";
import {
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobQueue,
} from "../src/server/contract/jobs.js";
import { createEmbeddedQueue, type EmbeddedQueueOptions } from "../src/server/jobs/embedded.js";
import { jobProblemTypes, QueueClosedError } from "../src/server/jobs/errors.js";
import { Journal, journalFile } from "../src/server/jobs/journal.js";
import { createRunner, type Runner } from "../src/server/jobs/runner.js";
import { registry, scrape } from "../src/server/metrics/registry.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { expectCapUnderLoad, expectQueuedCap, halfSpaceSpec, until } from "./helpers/jobs.js";

let zoo: string;
let store: ModelStore;
let runner: Runner;
const dirs: string[] = [];
const queues: JobQueue[] = [];

const dataDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "dualrs-embedded-"));
  dirs.push(d);
  return d;
};
const open = async (options: Partial<EmbeddedQueueOptions> & { dataDir: string }) => {
  const q = await createEmbeddedQueue({ store, runner, concurrency: 2, ...options });
  queues.push(q);
  return q;
};
const submit = (q: JobQueue, ...args: Parameters<typeof halfSpaceSpec>) =>
  q.submit(halfSpaceSpec(...args), { fingerprint: "f" }).then((r) => r.job);
const finished = (q: JobQueue, id: string) => q.wait(id, 60_000) as Promise<Job>;

beforeAll(async () => {
  zoo = await writeHalfSpaceZoo();
  store = localModelStore(zoo);
  runner = createRunner({ store, concurrency: 2, threads: 1, providers: ["cpu"], progressIntervalMs: 0 });
  await runner.warm(["dual-halfspace"]);
});

afterAll(async () => {
  for (const q of queues) await q.close();
  await runner.close();
  for (const d of [zoo, ...dirs]) await rm(d, { recursive: true, force: true });
});

describe("embedded queue", () => {
  it("runs a job to a certificate, with progress and timestamps", async () => {
    const q = await open({ dataDir: await dataDir() });
    const accepted = await submit(q, { n: 1000 });
    expect(accepted).toMatchObject({ status: "queued", startedAt: null, certificate: null, deliveries: [] });
    const job = await finished(q, accepted.id);
    expect(job.status).toBe("succeeded");
    expect(job.certificate?.prediction?.label).toBe("positive");
    expect(job.progress).toEqual({ done: 2 * (64 + 1000), total: 2 * (64 + 1000) });
    const [created, started, ended] = [job.createdAt, job.startedAt ?? "", job.finishedAt ?? ""].map(
      Date.parse,
    );
    expect(created).toBeLessThanOrEqual(started ?? 0);
    expect(started).toBeLessThanOrEqual(ended ?? 0);
    expect(await q.get(job.id)).toEqual(job);
    expect(await q.get("00000000-0000-7000-8000-000000000000")).toBeNull();
    expect(await q.counts()).toEqual({ queued: 0, running: 0, succeeded: 1, failed: 0, canceled: 0 });
    expect(await q.readiness()).toMatchObject({ ready: true });
    // The runner feeds the service's metrics.
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/dualrs_samples_total\{certifier="dual-halfspace",tenant="anonymous"\} \d+/);
    expect(metrics).toContain(
      'dualrs_job_duration_seconds_count{certifier="dual-halfspace",status="succeeded"}',
    );
  });

  it("starts jobs first in, first out", async () => {
    const q = await open({ dataDir: await dataDir(), concurrency: 1 });
    const ids: string[] = [];
    for (const seed of [1, 2, 3, 4]) ids.push((await submit(q, { seed })).id);
    const jobs = await Promise.all(ids.map((id) => finished(q, id)));
    const starts = jobs.map((j) => j.startedAt ?? "");
    expect(starts).toEqual([...starts].sort());
    expect(jobs.map((j) => j.certificate?.seed)).toEqual([1, 2, 3, 4]);
  });

  it("serves tenants in turn, each tenant's jobs in the order they came", async () => {
    const q = await open({ dataDir: await dataDir(), concurrency: 1 });
    const ran: string[] = [];
    const as = async (owner: string, seed: number, n = 512) => {
      const { job } = await q.submit(halfSpaceSpec({ seed, n }), { owner, fingerprint: String(seed) });
      return { id: job.id, done: q.wait(job.id, 60_000).then(() => ran.push(`${owner}:${seed}`)) };
    };
    // A long job holds the only slot while team-a, then team-b, submit; then it is canceled.
    const blocker = await as("team-c", 0, 5_000_000);
    const done = [blocker.done];
    for (const seed of [1, 2, 3, 4]) done.push((await as("team-a", seed)).done);
    for (const seed of [5, 6]) done.push((await as("team-b", seed)).done);
    expect(await q.queuedByTenant()).toEqual(
      new Map([
        ["team-a", 4],
        ["team-b", 2],
      ]),
    );
    const metrics = await scrape(q);
    expect(metrics).toContain('dualrs_queued_jobs{tenant="team-a"} 4');
    expect(metrics).toContain('dualrs_queued_jobs{tenant="team-b"} 2');
    await q.cancel(blocker.id);
    await Promise.all(done);
    // One job runs at a time, so jobs end in the order they start.
    expect(ran).toEqual(["team-c:0", "team-a:1", "team-b:5", "team-a:2", "team-b:6", "team-a:3", "team-a:4"]);
    expect(await q.queuedByTenant()).toEqual(new Map());
    expect(await scrape(q)).not.toContain("dualrs_queued_jobs{");
  });

  it("replays a create under the same idempotency key and refuses another body or a concurrent retry", async () => {
    const q = await open({ dataDir: await dataDir() });
    const spec = halfSpaceSpec();
    const [first, concurrent] = await Promise.allSettled([
      q.submit(spec, { idempotencyKey: "k1", fingerprint: "a" }),
      q.submit(spec, { idempotencyKey: "k1", fingerprint: "a" }),
    ]);
    expect(first.status).toBe("fulfilled");
    expect(concurrent.status === "rejected" && concurrent.reason).toBeInstanceOf(IdempotencyInFlightError);
    const id = first.status === "fulfilled" ? first.value.job.id : "";
    const again = await q.submit(spec, { idempotencyKey: "k1", fingerprint: "a" });
    expect(again).toMatchObject({ replayed: true, job: { id } });
    await expect(q.submit(spec, { idempotencyKey: "k1", fingerprint: "b" })).rejects.toBeInstanceOf(
      IdempotencyMismatchError,
    );
    const other = await q.submit(spec, { idempotencyKey: "k2", fingerprint: "a" });
    expect(other.replayed).toBe(false);
    expect(other.job.id).not.toBe(id);
  });

  it("lists jobs newest first, a page at a time, by status", async () => {
    const q = await open({ dataDir: await dataDir() });
    const ids: string[] = [];
    for (const seed of [1, 2, 3, 4, 5]) ids.push((await submit(q, { seed })).id);
    await Promise.all(ids.map((id) => finished(q, id)));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await q.list({ limit: 2, cursor });
      expect(r.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...r.jobs.map((j) => j.id));
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    expect((await q.list({ limit: 10, status: "succeeded" })).jobs).toHaveLength(5);
    expect((await q.list({ limit: 10, status: "failed" })).jobs).toEqual([]);
    expect((await q.list({ limit: 10, cursor: "garbage" })).jobs).toHaveLength(5);
    expect(await q.oldestQueued()).toBeNull();
  });

  it("lists an owner's jobs alone, and keeps owners across a restart", async () => {
    const dir = await dataDir();
    const a = await open({ dataDir: dir });
    const as = (owner: string, seed: number) =>
      a.submit(halfSpaceSpec({ seed }), { owner, fingerprint: String(seed) }).then((r) => r.job);
    const mine = [await as("team-a", 1), await as("team-b", 2), await as("team-a", 3)];
    await Promise.all(mine.map((j) => finished(a, j.id)));
    expect((await submit(a)).owner).toBe("anonymous");
    const ids = async (q: JobQueue, query: Parameters<JobQueue["list"]>[0]) =>
      (await q.list(query)).jobs.map((j) => j.id);
    expect(await ids(a, { limit: 10, owner: "team-a" })).toEqual([mine[2]?.id, mine[0]?.id]);
    expect(await ids(a, { limit: 1, owner: "team-a", status: "succeeded" })).toEqual([mine[2]?.id]);
    expect(await ids(a, { limit: 10, owner: "team-b" })).toEqual([mine[1]?.id]);
    await a.close();
    const b = await open({ dataDir: dir });
    expect(await ids(b, { limit: 10, owner: "team-a" })).toEqual([mine[2]?.id, mine[0]?.id]);
    expect((await b.get(mine[1]?.id ?? ""))?.owner).toBe("team-b");
  });

  it("refuses an owner's job past maxQueued, but replays an accepted one and takes other owners'", async () => {
    const q = await open({ dataDir: await dataDir(), concurrency: 1 });
    const long = await submit(q, { n: 1e9, batchSize: 1000 });
    await until(async () => (await q.get(long.id))?.status === "running", "the long job to run");
    await expectQueuedCap(q);
    await q.cancel(long.id);
  });

  it("holds maxQueued under 50 simultaneous submissions, counting the jobs still being journaled", async () => {
    // Concurrency 0: no job leaves the line, so the cap alone decides.
    await expectCapUnderLoad(await open({ dataDir: await dataDir(), concurrency: 0 }));
  });

  it("forgets a finished job past its retention on time, from the journal too, with no new jobs", async () => {
    const dir = await dataDir();
    const q = await open({ dataDir: dir, retentionMs: 300, expireEveryMs: 50 });
    const job = await finished(q, (await submit(q, { seed: 5 })).id);
    expect(job.status).toBe("succeeded");
    expect(await readFile(journalFile(dir), "utf8")).toContain(job.id);
    await until(async () => (await q.get(job.id)) === null, "the job to be forgotten");
    await until(
      async () => !(await readFile(journalFile(dir), "utf8")).includes(job.id),
      "the journal to drop it",
    );
  });

  it("forgets a finished job on request, from the journal too, and refuses an unfinished one", async () => {
    const dir = await dataDir();
    const q = await open({ dataDir: dir, concurrency: 1 });
    const job = await finished(q, (await submit(q, { seed: 6 })).id);
    const long = await submit(q, { n: 1e9, batchSize: 1000 });
    expect(await q.forget(long.id)).toBe(false);
    expect(await q.forget(job.id)).toBe(true);
    expect(await q.get(job.id)).toBeNull();
    await until(
      async () => !(await readFile(journalFile(dir), "utf8")).includes(job.id),
      "the journal to drop it",
    );
    expect(await q.forget(job.id)).toBe(false);
    await q.cancel(long.id);
  });

  it("cancels a queued job at once and a running one when its runner stops", async () => {
    const q = await open({ dataDir: await dataDir(), concurrency: 1 });
    const long = await submit(q, { n: 1e9, batchSize: 1000 });
    const queued = await submit(q);
    await until(async () => ((await q.get(long.id))?.progress.done ?? 0) > 0, "the long job to run");
    expect(await q.cancel(queued.id)).toMatchObject({ status: "canceled", cancelRequested: true });
    const requested = await q.cancel(long.id);
    expect(requested).toMatchObject({ cancelRequested: true });
    const job = await finished(q, long.id);
    expect(job).toMatchObject({ status: "canceled", certificate: null });
    expect(job.finishedAt).not.toBeNull();
    expect(await q.cancel(long.id)).toMatchObject({ status: "canceled" });
    expect(await q.cancel("00000000-0000-7000-8000-000000000000")).toBeNull();
    // The queue goes on.
    expect((await finished(q, (await submit(q)).id)).status).toBe("succeeded");
  });

  it("fails a job whose certification fails, with a problem", async () => {
    const q = await open({ dataDir: await dataDir() });
    const bad = await q.submit({ ...halfSpaceSpec(), certifier: "missing" }, { fingerprint: "x" });
    const job = await finished(q, bad.job.id);
    expect(job).toMatchObject({
      status: "failed",
      certificate: null,
      error: { type: jobProblemTypes.certifier },
    });
    expect(job.error?.detail).toContain("missing");
  });

  it("answers wait with the current state when time runs out or the caller leaves", async () => {
    const q = await open({ dataDir: await dataDir(), concurrency: 1 });
    const long = await submit(q, { n: 1e9, batchSize: 1000 });
    expect((await q.wait(long.id, 1))?.status).toMatch(/queued|running/);
    const controller = new AbortController();
    const waited = q.wait(long.id, 60_000, controller.signal);
    controller.abort();
    expect((await waited)?.status).toMatch(/queued|running/);
    expect(await q.wait("00000000-0000-7000-8000-000000000000", 1)).toBeNull();
    await q.cancel(long.id);
  });

  it("finishes every accepted job after a restart, with the same certificates", async () => {
    const dir = await dataDir();
    const a = await open({ dataDir: dir, concurrency: 1, drainMs: 0 });
    const done = await finished(a, (await submit(a, { seed: 11 })).id);
    const long = await submit(a, { n: 1e9, batchSize: 1000 });
    const queued = [await submit(a, { seed: 12 }), await submit(a, { seed: 13 })];
    const canceled = await submit(a, { seed: 14 });
    await a.cancel(canceled.id);
    await until(async () => ((await a.get(long.id))?.progress.done ?? 0) > 0, "the long job to run");
    await a.close();
    await expect(submit(a)).rejects.toBeInstanceOf(QueueClosedError);

    const b = await open({ dataDir: dir, concurrency: 1 });
    // The long job runs again from the start; the queued ones follow it.
    expect(await b.get(long.id)).toMatchObject({ status: "running" });
    await b.cancel(long.id);
    const jobs = await Promise.all(queued.map((j) => finished(b, j.id)));
    expect(jobs.map((j) => j.status)).toEqual(["succeeded", "succeeded"]);
    expect(await b.get(done.id)).toEqual(done);
    expect((await b.get(canceled.id))?.status).toBe("canceled");
    // A rerun gives the same certificate: compare with the same spec run on a fresh queue.
    const fresh = await open({ dataDir: await dataDir() });
    const again = await finished(fresh, (await submit(fresh, { seed: 12 })).id);
    expect(jobs[0]?.certificate).toEqual(again.certificate);
  });

  it("reads a journal whose last line was torn, and compacts it", async () => {
    const dir = await dataDir();
    const a = await open({ dataDir: dir, compactAfter: 20, retentionMs: 0, drainMs: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await submit(a, { seed: i, n: 10, n0: 1 })).id);
    await Promise.all(ids.map((id) => finished(a, id)));
    const pending = await submit(a, { n: 1e9, batchSize: 1000 });
    await a.close();
    const file = join(dir, "jobs.journal");
    const lines = (await readFile(file, "utf8")).split("\n").filter(Boolean);
    // 13 jobs, at least 3 lines each, without compaction; finished jobs past retention are dropped.
    expect(lines.length).toBeLessThan(13 * 3);
    await appendFile(file, '{"job":{"id":"0192');
    const b = await open({ dataDir: dir, concurrency: 1 });
    expect(await b.get(pending.id)).not.toBeNull();
    await b.cancel(pending.id);
    expect((await finished(b, pending.id)).status).toBe("canceled");
  });

  it("cuts a torn last record off before appending, so that no job accepted after it is lost", async () => {
    const dir = await dataDir();
    const file = journalFile(dir);
    // Concurrency 0: nothing runs, so each job is the one line that accepted it.
    const restart = () => open({ dataDir: dir, concurrency: 0 });
    const a = await restart();
    const jobs = [await submit(a, { seed: 1 }), await submit(a, { seed: 2 })];
    await a.close();
    const torn = '{"job":{"id":"0192';
    await appendFile(file, torn);
    const b = await restart();
    jobs.push(await submit(b, { seed: 3 }));
    await b.close();
    const c = await restart();
    jobs.push(await submit(c, { seed: 4 }));
    await c.close();
    const d = await restart();
    for (const job of jobs) expect(await d.get(job.id)).toEqual(job);
    const lines = (await readFile(file, "utf8")).split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => (JSON.parse(l) as { job: Job }).job.id)).toEqual(jobs.map((j) => j.id));
    await d.close();
    // Opening says how much it cut.
    await appendFile(file, torn);
    const logged: string[] = [];
    const { journal, records } = await Journal.open(file, (line) => logged.push(line));
    await journal.close();
    expect(records).toHaveLength(4);
    expect(logged).toEqual([expect.stringContaining(`dropped ${torn.length} bytes`)]);
    expect(await readFile(file, "utf8")).toBe(`${lines.join("\n")}\n`);
  });
});
