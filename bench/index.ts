/**
 * npm run bench: side-by-side throughput of raw onnxruntime inference and of certification on the
 * same model and batch size, noise made on the host and in the graph, and peak memory of one
 * certification at n = 10^4 and 10^6. Writes docs/benchmarks.md.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { certifyInput, fillGaussian, NOISE, NOISE_SQUARES, type NoiseVersion } from "../src/core/index.js";
import { labelTable } from "../src/eval/label-table.js";
import { buildNoiseModel } from "../src/runtime/graph/index.js";
import { createSession, loadCertifier, localModelStore, type NoiseMode } from "../src/runtime/index.js";
import { WasmGaussian } from "../src/runtime/noise/wasm-gaussian.js";
import { createRunner } from "../src/server/jobs/runner.js";
import { perSecond, throughput } from "./measure.js";

const ZOO = process.env.DUALRS_ZOO ?? "models";
const ID = process.env.DUALRS_BENCH_CERTIFIER ?? "fmnist-expert-0.25";
const DUAL_ID = process.env.DUALRS_BENCH_DUAL ?? "fmnist-dual-experts";
const SECONDS = Number(process.env.DUALRS_BENCH_SECONDS ?? 5);
const BATCH = 1000;
const THREADS = [1, 2];

const store = localModelStore(ZOO);
const manifest = await store.loadManifest(ID);
const shape = manifest.input.shape;
const dim = shape.reduce((a, b) => a * b, 1);
const chain = manifest.options[0]?.chain ?? [];
if (chain.length !== 1) throw new Error(`${ID}: the benchmark wants a one-model chain`);
const modelBytes = await store.readModel(manifest.models[chain[0] ?? ""]?.file ?? "", ID);
const x = Float32Array.from({ length: dim }, (_, i) => (i % 29) / 29);

const rows: string[][] = [];
const log = (...cells: string[]) => {
  rows.push(cells);
  console.log(cells.join("  |  "));
};

// Noise alone: host Philox + Box-Muller on one JS thread, and the same noise as an ONNX graph.
const noise = new Float32Array(BATCH * dim);
let first = 0;
const hostNormals = await throughput(async () => {
  fillGaussian(noise, dim, 1, 0, first, BATCH);
  first += BATCH;
  return BATCH * dim;
}, SECONDS);
log("noise only", "host, JavaScript (1 thread)", perSecond(hostNormals), "normals");
// The same bits from WebAssembly SIMD (src/runtime/noise), x + sigma * eps included.
const wasm = new WasmGaussian();
const wasmNormals = await throughput(async () => {
  wasm.fillNoisy(noise, { x, sigma: 0.25, seed: 1, stream: 0, first, count: BATCH });
  first += BATCH;
  return BATCH * dim;
}, SECONDS);
log("noise only", "host, WebAssembly SIMD (1 thread)", perSecond(wasmNormals), "normals");
// The graph's integer (Philox) ops barely use a second thread: noise bounds certification on the CPU.
// squares32 (the GPU providers' noise) beside it, in its CPU operator set.
const graphNoiseRates = new Map<number, number>();
for (const threads of THREADS) {
  for (const generator of [NOISE, NOISE_SQUARES]) {
    const model = buildNoiseModel(dim, { noise: generator });
    const noiseSession = await createSession(model, { providers: ["cpu"], threads });
    const graphNormals = await throughput(async () => {
      await noiseSession.run({
        key: new ort.Tensor("uint32", Uint32Array.of(1, 0), [2]),
        stream: new ort.Tensor("uint32", Uint32Array.of(0), [1]),
        first: new ort.Tensor("uint32", Uint32Array.of(0), [1]),
        count: new ort.Tensor("int32", Int32Array.of(BATCH), []),
      });
      return BATCH * dim;
    }, SECONDS);
    await noiseSession.release();
    if (generator === NOISE) graphNoiseRates.set(threads, graphNormals);
    const label = `graph (${threads} thread${threads > 1 ? "s" : ""}), ${generatorName(generator)}`;
    log("noise only", label, perSecond(graphNormals), "normals");
  }
}

// Raw inference against certification, same model, same batch size, same threads.
const ratios: { threads: number; noise: NoiseMode; raw: number; cert: number }[] = [];
for (const threads of THREADS) {
  const session = await createSession(modelBytes, { providers: ["cpu"], threads });
  const inputs = new Float32Array(BATCH * dim);
  fillGaussian(inputs, dim, 2, 0, 0, BATCH);
  const feeds = { [session.inputNames[0] ?? "x"]: new ort.Tensor("float32", inputs, [BATCH, ...shape]) };
  const raw = await throughput(async () => {
    await session.run(feeds);
    return BATCH;
  }, SECONDS);
  await session.release();
  log(`raw onnxruntime, ${threads} thread(s)`, "-", perSecond(raw), "samples");
  // Philox on the graph and on the host; squares32 (the GPU providers' noise) on the graph.
  const settings = [
    ["graph", NOISE],
    ["host", NOISE],
    ["graph", NOISE_SQUARES],
  ] as const;
  for (const [mode, generator] of settings) {
    const certifier = await loadCertifier(store, ID, {
      providers: ["cpu"],
      noise: mode,
      threads,
      noiseVersion: generator,
    });
    let seed = 0;
    const cert = await throughput(async () => {
      await certifyInput(certifier, x, { n0: 100, n: 10_000, batchSize: BATCH, seed: seed++ });
      return 10_100;
    }, SECONDS);
    await certifier.close();
    if (generator === NOISE) ratios.push({ threads, noise: mode, raw, cert });
    log(
      `certification, ${threads} thread(s)`,
      `${mode === "host" ? "host noise (+1 noise thread)" : `${mode} noise`}${generator === NOISE ? "" : `, ${generatorName(generator)}`}`,
      perSecond(cert),
      `samples (${(cert / raw).toFixed(2)} of raw)`,
    );
  }
}

// Dual certification: two stages, so about half the samples/s of one stage, at equal model cost.
const dual = await loadCertifier(store, DUAL_ID, { providers: ["cpu"], noise: "host", threads: 2 }).catch(
  () => null,
);
let dualRate: number | null = null;
if (dual) {
  let seed = 0;
  dualRate = await throughput(async () => {
    await certifyInput(dual, x, { n0: 100, n: 10_000, batchSize: BATCH, seed: seed++ });
    return 2 * 10_100;
  }, SECONDS);
  log("dual certification, 2 threads", "host noise", perSecond(dualRate), "samples (both stages)");
  // dualrs labels: every option on one image, n draws each, beside certification's pace.
  const image = { name: "bench", split: "test" as const, size: 1, shape, image: () => x, label: () => 0 };
  const options = dual.manifest.options.length;
  const tableRate = await throughput(async () => {
    await labelTable(dual, image, { count: 1, n: 10_000, alpha: 0.05, seed: seed++, batchSize: BATCH });
    return options * 10_000;
  }, SECONDS);
  await dual.close();
  log("label table (dualrs labels), 2 threads", "host noise", perSecond(tableRate), "samples (all options)");
}

// One job at a time through the service's runner: its batches on one thread with two onnxruntime
// threads, or spread over two threads with one each (WORKER_CONCURRENCY, THREADS). The two take
// turns, three times each, and each keeps its best: this machine's load varies from minute to minute.
const bytes = Buffer.from(x.buffer);
const input = {
  shape,
  data: bytes.toString("base64"),
  sha256: createHash("sha256").update(bytes).digest("hex"),
};
const layouts = [
  { concurrency: 1, threads: 2 },
  { concurrency: 2, threads: 1 },
].map((l) => ({ ...l, runner: createRunner({ store, ...l, providers: ["cpu"] }), best: 0 }));
for (const l of layouts) await l.runner.warm([ID]);
let seed = 0;
for (let round = 0; round < 3; round++) {
  for (const l of layouts) {
    const rate = await throughput(async () => {
      const parameters = { n0: 100, n: 10_000, alpha: 0.001, batchSize: BATCH, seed: seed++ };
      await l.runner.run({ certifier: ID, input, parameters });
      return 10_100;
    }, SECONDS / 2);
    l.best = Math.max(l.best, rate);
  }
}
for (const l of layouts) {
  await l.runner.close();
  const label = `one job at a time, ${l.concurrency} certification thread(s) x ${l.threads}`;
  log(label, "host noise", perSecond(l.best), "samples");
}
const [oneThread, twoThreads] = layouts.map((l) => l.best) as [number, number];

// Peak memory of one certification, each in a fresh process.
const memory = [10_000, 1_000_000].map((n) => {
  const out = execFileSync("npx", ["tsx", "bench/memory.ts", ZOO, ID, String(n), "graph"], {
    encoding: "utf8",
  });
  const m = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
    n: number;
    peakRssMiB: number;
    seconds: number;
  };
  log(
    `peak RSS, n = ${n.toLocaleString("en-US")}`,
    "graph noise",
    `${m.peakRssMiB.toFixed(1)} MiB`,
    `${m.seconds.toFixed(1)} s`,
  );
  return m;
});

await writeFile(join("docs", "benchmarks.md"), render());
console.log("wrote docs/benchmarks.md");

function render(): string {
  const cpu = cpus();
  const ortVersion = JSON.parse(
    String(execFileSync("node", ["-p", "JSON.stringify(require('onnxruntime-node/package.json').version)"])),
  );
  const best = ratios.reduce((a, b) => (b.cert / b.raw > a.cert / a.raw ? b : a));
  return `# Benchmarks

Measured by \`npm run bench\` (bench/index.ts); every figure in one table comes from one run, side
by side, so compare ratios rather than absolute rates between machines.

- Machine: ${cpu.length} x ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node ${ortVersion}, CPU execution provider
- Model: \`${ID}\` (${chain[0]}, input [${shape.join(", ")}]), batch size ${BATCH}; certification at n0 = 100, n = 10,000
- Date: ${new Date().toISOString().slice(0, 10)}

## Throughput

| what | noise | rate | unit |
| --- | --- | --- | --- |
${rows
  .filter((r) => !r[0]?.startsWith("peak"))
  .map((r) => `| ${r.join(" | ")} |`)
  .join("\n")}

Certification over raw inference, best setting: ${(best.cert / best.raw).toFixed(2)} (${best.noise} noise, ${best.threads} thread(s)).
Thread counts are onnxruntime's. Host noise (the CPU's default) is made by WebAssembly SIMD on one more
thread, one batch ahead of the model, so noise and inference overlap: at 1 thread the model has one
core and the noise the other. Graph noise runs inside the session, taking turns with the model.
Noise alone allows at most ${Math.round((graphNoiseRates.get(2) ?? 0) / dim).toLocaleString("en-US")} samples/s in the graph at 2 threads and ${Math.round(wasmNormals / dim).toLocaleString("en-US")} from
WebAssembly on one thread (normals/s over the input's ${dim} values), against ${Math.round(ratios[0]?.raw ?? 0).toLocaleString("en-US")} for the model alone at 1 thread.
${dualRate === null ? "" : `Dual certification runs two stages of n0 + n draws each; its samples/s count both.\n`}One job's batches spread over two certification threads of one onnxruntime thread each run
${(twoThreads / oneThread).toFixed(2)} times as fast as on one thread of two (the service's runner, \`WORKER_CONCURRENCY=2 THREADS=1\`
against \`WORKER_CONCURRENCY=1 THREADS=2\`): each certification thread has a noise thread of its own.

GPU providers (WebGPU, CUDA) are measured by \`npm run bench:gpu\`: [gpu-benchmarks.md](gpu-benchmarks.md).
Draws per certificate, which sequential sampling (\`sampling: "sequential"\`, \`targetRadius\`) and set-valued routing
(\`routing: "set"\`) change, are measured on the zoo's test images in [results.md](results.md): the rate per draw is
the one above.

## Memory

Peak resident memory of one whole process (runtime, sessions and one certification) at growing n;
sampling streams in batches, so it must not grow with n.

| n | peak RSS | time |
| --- | --- | --- |
${memory.map((m) => `| ${m.n.toLocaleString("en-US")} | ${m.peakRssMiB.toFixed(1)} MiB | ${m.seconds.toFixed(1)} s |`).join("\n")}
`;
}

function generatorName(v: NoiseVersion): string {
  return v.split("/")[0] ?? v;
}
