import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certifyInput } from "../src/core/certifier.js";
import { NOISE_SQUARES } from "../src/core/noise.js";
import type { Progress } from "../src/core/sampler.js";
import { loadCertifier } from "../src/runtime/certifier.js";
import { localModelStore, type ModelStore } from "../src/runtime/model-store.js";
import { ThreadPool } from "../src/runtime/threads/pool.js";
import { JobFailure, jobProblemTypes } from "../src/server/jobs/errors.js";
import { createRunner, decodeJobInput, type Runner } from "../src/server/jobs/runner.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { halfSpaceSpec, until } from "./helpers/jobs.js";

let dir: string;
let store: ModelStore;
let reads: string[];
const runners: Runner[] = [];
const runner = (options: Partial<Parameters<typeof createRunner>[0]> = {}) => {
  const r = createRunner({ store, providers: ["cpu"], threads: 1, progressIntervalMs: 0, ...options });
  runners.push(r);
  return r;
};

beforeAll(async () => {
  dir = await writeHalfSpaceZoo();
  const local = localModelStore(dir);
  reads = [];
  // The real store, counting the model files it reads.
  store = {
    ...local,
    readModel: (file, ref) => {
      reads.push(file);
      return local.readModel(file, ref);
    },
  };
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("runner", () => {
  it("gives the certificate the engine gives on the main thread, off the main thread", async () => {
    const spec = halfSpaceSpec({ n: 2000 });
    const r = runner();
    const progress: Progress[] = [];
    let turns = 0;
    let settled = false;
    const run = r.run(spec, { onProgress: (p) => progress.push(p) }).finally(() => (settled = true));
    // The event loop keeps turning while the job runs.
    await until(() => progress.length > 0 || settled, "the first progress report");
    while (!settled && turns < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    const certificate = await run;
    const local = await loadCertifier(localModelStore(dir), "dual-halfspace", { providers: ["cpu"] });
    try {
      expect(certificate).toEqual(
        await certifyInput(local, decodeJobInput(spec.input.data), spec.parameters),
      );
    } finally {
      await local.close();
    }
    expect(certificate.prediction?.label).toBe("positive");
    expect(certificate.radius).toBeGreaterThan(0);
    // Progress: samples done out of both stages' total, increasing, ending at the total.
    const total = 2 * (64 + 2000);
    expect(progress.every((p) => p.total === total)).toBe(true);
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b));
    expect(progress.at(-1)).toEqual({ done: total, total });
  });

  it("names in the certificate the noise generator its threads drew from", async () => {
    const spec = halfSpaceSpec({ n: 500 });
    const certificate = await runner({ noiseVersion: NOISE_SQUARES }).run(spec);
    expect(certificate.noise).toBe(NOISE_SQUARES);
    const local = await loadCertifier(localModelStore(dir), "dual-halfspace", {
      providers: ["cpu"],
      noiseVersion: NOISE_SQUARES,
    });
    try {
      expect(certificate).toEqual(
        await certifyInput(local, decodeJobInput(spec.input.data), spec.parameters),
      );
    } finally {
      await local.close();
    }
  });

  it("loads a certifier once per thread and reuses it", async () => {
    const r = runner();
    const before = reads.length;
    for (const seed of [1, 2, 3]) await r.run(halfSpaceSpec({ seed }));
    // Two model files (clf, est), read once for three jobs.
    expect(reads.length - before).toBe(2);
  });

  it("spreads one job's batches over every thread, to the certificate one thread gives", async () => {
    const spec = halfSpaceSpec({ n: 20_000, batchSize: 500 });
    const one = await runner().run(spec);
    const before = reads.length;
    const spread = await runner({ concurrency: 3 }).run(spec);
    expect(spread).toEqual(one);
    // Each thread loads the certifier's two model files before its first batch: all three counted.
    expect(reads.length - before).toBe(6);
  });

  it("shares the cores among its threads unless told how many each takes", () => {
    const pool = (size: number, threads?: number) =>
      new ThreadPool(store, { providers: ["cpu"], noise: "graph", threads }, size, 0).data.threads;
    const cores = availableParallelism();
    expect(pool(1)).toBeUndefined();
    expect(pool(2)).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(pool(4 * cores)).toBe(1);
    expect(pool(2, 3)).toBe(3);
  });

  it("runs at most `concurrency` jobs at once and finishes them all", async () => {
    const r = runner({ concurrency: 2 });
    const active = new Set<number>();
    let most = 0;
    const jobs = [1, 2, 3, 4, 5].map((seed) =>
      r.run(halfSpaceSpec({ seed, n: 4000, batchSize: 250 }), {
        onProgress: (p) => {
          if (p.done < p.total) active.add(seed);
          else active.delete(seed);
          most = Math.max(most, active.size);
        },
      }),
    );
    const certificates = await Promise.all(jobs);
    expect(certificates.map((c) => c.seed)).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBeGreaterThanOrEqual(1);
  });

  it("stops a canceled job and takes the next one", async () => {
    const r = runner();
    const controller = new AbortController();
    let done = 0;
    const long = r.run(halfSpaceSpec({ n: 1e9, batchSize: 1000 }), {
      signal: controller.signal,
      onProgress: (p) => (done = p.done),
    });
    await until(() => done > 0, "the long job to start");
    controller.abort();
    await expect(long).rejects.toMatchObject({ name: "AbortError" });
    const next = await r.run(halfSpaceSpec());
    expect(next.prediction?.label).toBe("positive");
  });

  it("takes a thread stuck in one long batch away from a canceled job", async () => {
    const r = runner({ cancelGraceMs: 0 });
    const controller = new AbortController();
    let done = 0;
    const long = r.run(halfSpaceSpec({ n: 1e9, batchSize: 100_000 }), {
      signal: controller.signal,
      onProgress: (p) => (done = p.done),
    });
    await until(() => done > 0, "the long job to start");
    controller.abort();
    await expect(long).rejects.toMatchObject({ name: "AbortError" });
    expect((await r.run(halfSpaceSpec())).prediction?.label).toBe("positive");
  });

  it("fails a job with a problem naming the cause", async () => {
    const r = runner();
    const unknown = r.run({ ...halfSpaceSpec(), certifier: "nope" });
    await expect(unknown).rejects.toBeInstanceOf(JobFailure);
    await expect(unknown).rejects.toMatchObject({
      problem: { type: jobProblemTypes.certifier, detail: expect.stringContaining("nope") },
    });
    const badSigma = r.run(halfSpaceSpec({ mode: "global", sigma: 0.3 }));
    await expect(badSigma).rejects.toMatchObject({
      problem: { type: jobProblemTypes.input, detail: expect.stringContaining("0.3") },
    });
    // The thread survives a failed job.
    expect((await r.run(halfSpaceSpec())).prediction?.label).toBe("positive");
  });

  it("loads certifiers ahead of jobs and reports readiness", async () => {
    const r = runner({ concurrency: 2 });
    await r.warm(["dual-halfspace", "halfspace"]);
    expect(r.readiness()).toMatchObject({ ready: true });
    const bad = runner();
    await expect(bad.warm(["missing"])).rejects.toBeInstanceOf(JobFailure);
    expect(bad.readiness()).toMatchObject({ ready: false, detail: expect.stringContaining("missing") });
    await bad.close();
    expect(bad.readiness().ready).toBe(false);
  });
});
