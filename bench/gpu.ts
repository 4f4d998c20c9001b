/**
 * npm run bench:gpu: samples/s of raw inference and of certification on each available execution
 * provider (CPU, WebGPU, CUDA), for a zoo expert and a ResNet-sized model that the script builds, side
 * by side in one run; writes the table, with the hardware, to docs/gpu-benchmarks.md (or $BENCH_OUT).
 *
 *   BENCH_SECONDS (default 3) per figure, BENCH_BATCH (default 1000) draws per model call, BENCH_N
 *   (default 10,000; the ResNet a tenth of it, as one CPU thread takes it ~100 samples/s) draws per
 *   certificate, BENCH_PROVIDERS (default: every available one).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { certifyInput } from "../src/core/certifier.js";
import { fillGaussian, NOISE, NOISE_SQUARES, type NoiseVersion } from "../src/core/noise.js";
import { buildNoiseModel, noisyFeeds } from "../src/runtime/graph/index.js";
import {
  createSession,
  deviceNoise,
  hasGpuDevice,
  loadCertifier,
  localModelStore,
  type ProviderName,
  providerStatus,
} from "../src/runtime/index.js";
import { perSecond, throughput } from "./measure.js";
import { buildResnet, RESNET_SHAPE } from "./resnet.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const OUT = process.env.BENCH_OUT ?? join("docs", "gpu-benchmarks.md");
const N = Number(process.env.BENCH_N ?? 10_000);
const ONLY = process.env.BENCH_PROVIDERS?.split(",");

interface Model {
  readonly id: string;
  readonly store: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
  readonly what: string;
  /** Draws per certificate (n). */
  readonly n: number;
}

const zoo = localModelStore("models");
const expert = await zoo.loadManifest("fmnist-expert-0.25");
const expertFile = expert.models[expert.options[0]?.chain[0] ?? ""]?.file ?? "";
const models: Model[] = [
  {
    id: expert.id,
    store: "models",
    shape: expert.input.shape,
    bytes: await zoo.readModel(expertFile, expert.id),
    what: "zoo expert, 1x28x28",
    n: N,
  },
  await resnetStore(),
];

const providers: ProviderName[] = [];
for (const p of ["cpu", "webgpu", "cuda"] as const) {
  const status = await providerStatus(p);
  console.log(`${p}: ${status.available ? "available" : `not available (${status.reason})`}`);
  if (status.available && (!ONLY || ONLY.includes(p))) providers.push(p);
}

const rows: string[][] = [];
const log = (...cells: string[]) => {
  rows.push(cells);
  console.log(cells.join("  |  "));
};

for (const provider of providers) {
  for (const m of models) {
    // A model that a provider cannot run (a kernel over the device's limits, say) gets a row saying so.
    await measure(provider, m).catch((e: Error) =>
      log(provider, m.what, "failed", "-", e.message.split("\n")[0]?.slice(-160) ?? "", "-"),
    );
  }
}

await writeFile(OUT, render());
console.log(`wrote ${OUT}`);

/** Raw inference, then noise alone and certification with each generator the provider runs. */
async function measure(provider: ProviderName, m: Model): Promise<void> {
  const generators: NoiseVersion[] = provider === "cpu" ? [NOISE, NOISE_SQUARES] : [NOISE_SQUARES];
  const dim = m.shape.reduce((a, b) => a * b, 1);
  const session = await createSession(m.bytes, { providers: [provider], threads: 1 });
  const inputs = new Float32Array(BATCH * dim);
  fillGaussian(inputs, dim, 2, 0, 0, BATCH);
  const feeds = { [session.inputNames[0] ?? "x"]: new ort.Tensor("float32", inputs, [BATCH, ...m.shape]) };
  const raw = await throughput(async () => {
    await session.run(feeds);
    return BATCH;
  }, SECONDS);
  await session.release();
  log(provider, m.what, "raw onnxruntime", "-", perSecond(raw), "1.00");
  for (const generator of generators) {
    const device = deviceNoise([provider], generator);
    const noise = await createSession(buildNoiseModel(dim, { noise: generator, device }), {
      providers: [provider],
      threads: 1,
    });
    const batch = { x: new Float32Array(dim), sigma: 1, seed: 1, stream: 0, first: 0, count: BATCH };
    const noiseFeeds = Object.fromEntries(
      Object.entries(noisyFeeds(batch, generator))
        .filter(([k]) => !["x", "sigma"].includes(k))
        .map(([k, f]) => [k, new ort.Tensor(f.data, [...f.dims])]),
    );
    const normals = await throughput(async () => {
      await noise.run(noiseFeeds);
      return BATCH;
    }, SECONDS);
    await noise.release();
    log(provider, m.what, "noise only", name(generator), perSecond(normals), (normals / raw).toFixed(2));
    const certifier = await loadCertifier(localModelStore(m.store), m.id, {
      providers: [provider],
      threads: 1,
      // Noise in the graph on every provider, as the table says (the CPU's default is host noise).
      noise: "graph",
      noiseVersion: generator,
    });
    const x = new Float32Array(dim).map((_, j) => (j % 29) / 29);
    let seed = 0;
    const cert = await throughput(async () => {
      await certifyInput(certifier, x, { n0: 100, n: m.n, batchSize: BATCH, seed: seed++ });
      return m.n + 100;
    }, SECONDS);
    await certifier.close();
    log(provider, m.what, "certification", name(generator), perSecond(cert), (cert / raw).toFixed(2));
  }
}

function name(v: NoiseVersion): string {
  return v.split("/")[0] ?? v;
}

/** The ResNet in a model store of its own, with a global-RS manifest at sigma 0.25. */
async function resnetStore(): Promise<Model> {
  const bytes = buildResnet();
  const dir = await mkdtemp(join(tmpdir(), "dualrs-bench-"));
  const sha = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(dir, `${sha}.onnx`), bytes);
  const manifest = {
    schemaVersion: 1,
    id: "bench-resnet",
    input: { shape: [...RESNET_SHAPE], range: [0, 1] },
    labels: Array.from({ length: 10 }, (_, i) => `class-${i}`),
    models: { resnet: { file: `${sha}.onnx` } },
    options: [{ sigma: 0.25, chain: ["resnet"] }],
  };
  await writeFile(join(dir, "bench-resnet.json"), JSON.stringify(manifest));
  return {
    id: "bench-resnet",
    store: dir,
    shape: RESNET_SHAPE,
    bytes,
    what: "ResNet (random weights), 3x32x32",
    n: Math.ceil(N / 10),
  };
}

function hardware(): string {
  const cpu = cpus();
  const lines = [
    `- CPU: ${cpu.length} x ${cpu[0]?.model ?? "unknown"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
  ];
  try {
    const gpu = execFileSync(
      "nvidia-smi",
      ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
      {
        encoding: "utf8",
      },
    ).trim();
    lines.push(`- GPU: ${gpu}`);
  } catch {
    lines.push("- GPU: none found by nvidia-smi");
  }
  const ortVersion = (ort.env as { versions?: { common?: string } }).versions?.common ?? "?";
  lines.push(
    `- Node ${process.version}, onnxruntime-node ${ortVersion}; providers measured: ${providers.join(", ")}`,
  );
  return lines.join("\n");
}

function render(): string {
  return `# GPU benchmarks

Measured by \`npm run bench:gpu\` (bench/gpu.ts) on ${new Date().toISOString().slice(0, 10)}; every figure in one table
comes from one run, side by side. One onnxruntime thread, batch ${BATCH}; certification is one global-RS
certificate at n0 = 100 and n = ${N.toLocaleString("en-US")} (the ResNet: ${Math.ceil(N / 10).toLocaleString("en-US")}), noise made in the graph. "of raw" is the rate over
raw inference on a pre-made batch on the same provider and model.

${hardware()}
${
  hasGpuDevice()
    ? ""
    : `
**No GPU on this machine**: the WebGPU rows, if any, ran on a software Vulkan adapter (Mesa's lavapipe),
so they show that the providers work and what the noise costs beside the model there, not GPU speed.
The GPU figures are missing until \`npm run bench:gpu\` runs where a GPU is.
`
}
| provider | model | what | noise | rate (samples) | of raw |
| --- | --- | --- | --- | ---: | ---: |
${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}
`;
}
