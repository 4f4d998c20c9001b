import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore, type ModelStore } from "../src/runtime/model-store.js";
import type { Job, JobQueue } from "../src/server/contract/jobs.js";
import { createEmbeddedQueue } from "../src/server/jobs/embedded.js";
import { createRunner, type Runner } from "../src/server/jobs/runner.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { halfSpaceSpec } from "./helpers/jobs.js";

let zoo: string;
let store: ModelStore;
let runner: Runner;
const dirs: string[] = [];
const queues: JobQueue[] = [];

const dataDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "dualrs-embedded-faults-"));
  dirs.push(d);
  return d;
};
const finished = (q: JobQueue, id: string) => q.wait(id, 120_000) as Promise<Job>;

beforeAll(async () => {
  zoo = await writeHalfSpaceZoo();
  store = localModelStore(zoo);
  runner = createRunner({ store, concurrency: 2, threads: 1, providers: ["cpu"] });
});

afterAll(async () => {
  for (const q of queues) await q.close();
  await runner.close();
  for (const d of [zoo, ...dirs]) await rm(d, { recursive: true, force: true });
});

describe("embedded queue faults", () => {
  it("loses no accepted job when the server process is killed mid-queue", async () => {
    const dir = await dataDir();
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/embedded-child.ts", dir, zoo], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("running\n")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`the server process exited with ${code}: ${out}`)));
    });
    child.kill("SIGKILL");
    await exited;

    const q = await createEmbeddedQueue({ store, dataDir: dir, runner, concurrency: 1 });
    queues.push(q);
    const all = (await q.list({ limit: 10 })).jobs.map((j) => j.id).reverse();
    // Every job the killed process acknowledged, in order.
    expect(all).toEqual(out.split("\n").slice(0, 6));
    const [long, ...short] = all as [string, ...string[]];
    // Nothing had finished: the long job runs again first, the others wait behind it.
    expect(await q.counts()).toMatchObject({ succeeded: 0, failed: 0 });
    await q.cancel(long);
    expect((await finished(q, long)).status).toBe("canceled");
    const jobs = await Promise.all(short.map((id) => finished(q, id)));
    expect(jobs.map((j) => j.status)).toEqual([
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
    expect(jobs.map((j) => j.certificate?.seed)).toEqual([1, 2, 3, 4, 5]);
    expect(jobs[0]?.certificate).toEqual(await runner.run(halfSpaceSpec({ seed: 1 })));
  });

  it("finishes 200 concurrent jobs", async () => {
    const q = await createEmbeddedQueue({ store, dataDir: await dataDir(), runner, concurrency: 2 });
    queues.push(q);
    const accepted = await Promise.all(
      Array.from({ length: 200 }, (_, seed) =>
        q.submit(halfSpaceSpec({ seed, n0: 1, n: 10, batchSize: 10 }), { fingerprint: String(seed) }),
      ),
    );
    expect(new Set(accepted.map((a) => a.job.id)).size).toBe(200);
    const jobs = await Promise.all(accepted.map((a) => finished(q, a.job.id)));
    expect(jobs.filter((j) => j.status === "succeeded")).toHaveLength(200);
    expect(await q.counts()).toMatchObject({ succeeded: 200, queued: 0, running: 0 });
  });
});
