/**
 * npm run bench:server: latency of GET /healthz and GET /certify/{id} while certifications run on
 * the embedded queue's worker threads, against the same requests on an idle server. Inference runs
 * off the main thread, so the two should be close. Writes docs/server-benchmarks.md.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { localModelStore } from "../src/runtime/model-store.js";
import { loadConfig } from "../src/server/config.js";
import { startServer } from "../src/server/server.js";
import { randomLinearModel } from "./fixtures/onnx-builder.js";
import { writeCertifier } from "./fixtures/zoo.js";

const SECONDS = Number(process.env.DUALRS_BENCH_SECONDS ?? 5);
const JOBS = Number(process.env.DUALRS_BENCH_JOBS ?? 4);
const CONCURRENCY = Number(process.env.DUALRS_BENCH_CONCURRENCY ?? 2);
const N = Number(process.env.DUALRS_BENCH_N ?? 200_000);

const tmp = await mkdtemp(join(tmpdir(), "dualrs-bench-server-"));
let zoo = process.env.DUALRS_ZOO ?? "models";
let id = process.env.DUALRS_BENCH_CERTIFIER ?? "fmnist-dual-experts";
const ids = await localModelStore(zoo)
  .listManifests()
  .catch(() => [] as string[]);
if (!ids.includes(id)) {
  // No trained zoo here: a linear 784 -> 10 classifier of the same input shape stands in.
  zoo = join(tmp, "models");
  id = "linear-784";
  await writeCertifier(
    zoo,
    {
      id,
      input: { shape: [1, 28, 28], range: [0, 1] },
      labels: Array.from({ length: 10 }, (_, i) => `class ${i}`),
      options: [{ sigma: 0.25, chain: ["clf"] }],
    },
    { clf: { bytes: randomLinearModel([1, 28, 28], 10, 1) } },
  );
}
const manifest = await localModelStore(zoo).loadManifest(id);
const dim = manifest.input.shape.reduce((a, b) => a * b, 1);

const server = await startServer({
  config: loadConfig({
    PORT: "0",
    MODEL_STORE: zoo,
    DATA_DIR: join(tmp, "data"),
    RATE_LIMIT: "0",
    PROVIDERS: "cpu",
    WORKER_CONCURRENCY: String(CONCURRENCY),
  }),
});

async function timed(path: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${server.url}${path}`);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return performance.now() - t;
}

/** Alternates the two requests, one at a time, for `SECONDS`. */
async function sample(jobId: string): Promise<{ healthz: number[]; job: number[] }> {
  const out = { healthz: [] as number[], job: [] as number[] };
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    out.healthz.push(await timed("/healthz"));
    out.job.push(await timed(`/certify/${jobId}`));
  }
  return out;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function submit(n: number): Promise<string> {
  const data = Buffer.from(Float32Array.from({ length: dim }, (_, i) => (i % 29) / 29).buffer).toString(
    "base64",
  );
  const res = await fetch(`${server.url}/certify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      certifier: id,
      input: { type: "tensor", shape: manifest.input.shape, data },
      parameters: { n, n0: 100, batchSize: 1000, seed: 1 },
    }),
  });
  if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

// Idle: a finished job, nothing running.
const idleJob = await submit(100);
await fetch(`${server.url}/certify/${idleJob}`, { headers: { prefer: "wait=60" } });
await sample(idleJob); // warm-up: JIT and connections
const idle = await sample(idleJob);

// Busy: JOBS long certifications, CONCURRENCY of them running at once.
const busyJobs = await Promise.all(Array.from({ length: JOBS }, () => submit(N)));
for (;;) {
  const res = await fetch(`${server.url}/certify/${busyJobs[0]}`);
  const job = (await res.json()) as { status: string; progress: { done: number } };
  if (job.status === "running" && job.progress.done > 0) break;
  await new Promise((r) => setTimeout(r, 50));
}
const busy = await sample(busyJobs[0] as string);
const still = (await (await fetch(`${server.url}/certify/${busyJobs[0]}`)).json()) as { status: string };
if (still.status !== "running") console.warn(`the job was ${still.status} by the end; raise DUALRS_BENCH_N`);
await Promise.all(busyJobs.map((j) => fetch(`${server.url}/certify/${j}/cancel`, { method: "POST" })));
await server.close();
await rm(tmp, { recursive: true, force: true });

const rows = [
  ["GET /healthz", "idle", idle.healthz],
  ["GET /healthz", `${CONCURRENCY} certifications running`, busy.healthz],
  ["GET /certify/{id}", "idle", idle.job],
  ["GET /certify/{id}", `${CONCURRENCY} certifications running`, busy.job],
] as const;
const table = rows.map(
  ([what, when, v]) =>
    `| ${what} | ${when} | ${v.length} | ${percentile(v, 50).toFixed(2)} | ${percentile(v, 99).toFixed(2)} | ${Math.max(...v).toFixed(2)} |`,
);
for (const line of table) console.log(line);
const cpu = cpus();
await writeFile(
  join("docs", "server-benchmarks.md"),
  `# Server latency while certifications run

Measured by \`npm run bench:server\` (bench/server.ts): one client sends GET /healthz and GET
/certify/{id} alternately, one request at a time, for ${SECONDS} s on an idle server and again while
${CONCURRENCY} certifications (of ${JOBS} queued, n = ${N.toLocaleString("en-US")}, batch 1000) run on
the embedded queue's worker threads. Client and server share one Node process, so the figures
include the client's own time.

- Machine: ${cpu.length} x ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, CPU execution provider
- Load average (1, 5, 15 min) at the end, the run's own certifications included: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(", ")}
- Certifier: \`${id}\` (input [${manifest.input.shape.join(", ")}])
- Date: ${new Date().toISOString().slice(0, 10)}

| request | server | requests | p50 (ms) | p99 (ms) | max (ms) |
| --- | --- | --- | --- | --- | --- |
${table.join("\n")}
`,
);
console.log("wrote docs/server-benchmarks.md");
