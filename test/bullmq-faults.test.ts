import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore, type ModelStore } from "../src/runtime/model-store.js";
import type { Job, JobQueue } from "../src/server/contract/jobs.js";
import { createRedisQueue } from "../src/server/jobs/bullmq.js";
import { createRedisWorker } from "../src/server/jobs/redis-worker.js";
import { createRunner, type Runner } from "../src/server/jobs/runner.js";
import { buildPackage } from "./helpers/build.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { halfSpaceSpec, until } from "./helpers/jobs.js";
import { type RedisServer, startRedis } from "./helpers/redis.js";
import { startWorkerProcess, type WorkerProcess } from "./helpers/worker-process.js";

let redis: RedisServer;
let zoo: string;
let dataDir: string;
let store: ModelStore;
let runner: Runner;
let built: Awaited<ReturnType<typeof buildPackage>>;
const closers: { close(): Promise<void> }[] = [];
const workers: WorkerProcess[] = [];

const api = async (prefix: string): Promise<JobQueue> => {
  const q = await createRedisQueue({ redisUrl: redis.url, prefix });
  closers.unshift(q);
  return q;
};
/** A `dualrs worker` process that finds dead workers' jobs quickly. */
const workerProcess = async (prefix: string, env: Record<string, string> = {}, cli?: string) => {
  const w = await startWorkerProcess(
    {
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      MODEL_STORE: zoo,
      DATA_DIR: dataDir,
      WORKER_LOCK_MS: "2000",
      WORKER_STALLED_MS: "500",
      WORKER_METRICS_PORT: "0",
      ...env,
    },
    cli,
  );
  workers.push(w);
  return w;
};
/** The worker process that runs job `id` first, the other second. */
function runnerFirst(pair: WorkerProcess[], id: string): [WorkerProcess, WorkerProcess] {
  const [x, y] = pair as [WorkerProcess, WorkerProcess];
  return x.stderr().includes(`job ${id} running`) ? [x, y] : [y, x];
}
const finished = (q: JobQueue, id: string) => q.wait(id, 120_000) as Promise<Job>;

beforeAll(async () => {
  redis = await startRedis();
  zoo = await writeHalfSpaceZoo();
  dataDir = await mkdtemp(join(tmpdir(), "dualrs-faults-"));
  store = localModelStore(zoo);
  runner = createRunner({ store, concurrency: 2, threads: 1, providers: ["cpu"] });
  built = await buildPackage();
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  for (const c of closers) await c.close();
  await runner?.close();
  await redis?.destroy();
  for (const d of [zoo, dataDir]) await rm(d, { recursive: true, force: true });
  await built?.remove();
});

describe("faults on Redis", () => {
  it("finishes a job whose worker was killed mid-job on another worker, to the same certificate", async () => {
    const q = await api("kill");
    // One worker runs from source, the other from the build: both run the job, one after the other.
    const pair = await Promise.all([
      workerProcess("kill"),
      workerProcess("kill", {}, join(built.dir, "cli/index.js")),
    ]);
    const spec = halfSpaceSpec({ n: 400_000, batchSize: 1000, seed: 5 });
    const { job } = await q.submit(spec, { fingerprint: "k" });
    await until(async () => ((await q.get(job.id))?.progress.done ?? 0) > 0, "a worker to run the job");
    const [a, b] = runnerFirst(pair, job.id);
    a.child.kill("SIGKILL");
    expect(await a.exited).toBeNull();
    const killedAt = (await q.get(job.id))?.startedAt;
    const done = await finished(q, job.id);
    // Its log line and the job's status travel apart (a pipe, Redis): wait for the line.
    await until(() => b.stderr().includes(`job ${job.id} succeeded`), "the worker to log the job");
    // The worker that ran it counts its samples and latency in its own metrics.
    const metricsUrl = /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(b.stderr())?.[1] ?? "";
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/dualrs_samples_total\{certifier="dual-halfspace",tenant="anonymous"\} \d+/);
    expect(metrics).toContain(
      'dualrs_job_duration_seconds_count{certifier="dual-halfspace",status="succeeded"} 1',
    );
    expect(done.status).toBe("succeeded");
    expect(done.startedAt).not.toBe(killedAt);
    expect(done.certificate).toEqual(await runner.run(spec));
  });

  it("hands a running job back on SIGTERM and cancels it in another worker process", async () => {
    const q = await api("term");
    const pair = await Promise.all([0, 1].map(() => workerProcess("term", { WORKER_DRAIN_MS: "0" })));
    const { job } = await q.submit(halfSpaceSpec({ n: 1e9, batchSize: 1000 }), { fingerprint: "t" });
    await until(async () => ((await q.get(job.id))?.progress.done ?? 0) > 0, "a worker to run the job");
    const [a, b] = runnerFirst(pair, job.id);
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    await until(() => a.stderr().includes(`job ${job.id} handed back`), "the worker to log the hand-back");
    await until(() => b.stderr().includes(`job ${job.id} running`), "the other worker to take the job");
    expect((await q.cancel(job.id))?.cancelRequested).toBe(true);
    expect(await finished(q, job.id)).toMatchObject({ status: "canceled", certificate: null });
  });

  it("loses no accepted job when Redis is killed and restarted", async () => {
    const q = await api("restart");
    const ids: string[] = [];
    for (let seed = 0; seed < 20; seed++) {
      ids.push((await q.submit(halfSpaceSpec({ seed, n: 20_000 }), { fingerprint: String(seed) })).job.id);
    }
    const w = await createRedisWorker({
      redisUrl: redis.url,
      prefix: "restart",
      store,
      runner,
      concurrency: 2,
      lockDurationMs: 2000,
      stalledIntervalMs: 500,
    });
    closers.unshift(w);
    await until(async () => (await q.counts()).succeeded > 0, "the first job to finish");
    await redis.stop("SIGKILL");
    await redis.start();
    const jobs = await Promise.all(ids.map((id) => finished(q, id)));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => "succeeded"));
    expect(jobs.map((j) => j.certificate?.seed)).toEqual(ids.map((_, seed) => seed));
  });

  it("finishes 200 concurrent jobs", async () => {
    const q = await createRedisQueue({
      redisUrl: redis.url,
      prefix: "many",
      worker: { store, runner, concurrency: 2 },
    });
    closers.unshift(q);
    const accepted = await Promise.all(
      Array.from({ length: 200 }, (_, seed) =>
        q.submit(halfSpaceSpec({ seed, n0: 1, n: 10, batchSize: 10 }), { fingerprint: String(seed) }),
      ),
    );
    const jobs = await Promise.all(accepted.map((a) => finished(q, a.job.id)));
    expect(jobs.filter((j) => j.status === "succeeded")).toHaveLength(200);
    expect(await q.counts()).toMatchObject({ succeeded: 200, queued: 0, running: 0 });
  });
});
