/**
 * The WebGPU execution provider, on whatever Vulkan adapter this machine has (in CI: Mesa's lavapipe,
 * a software one). Proves that squares32 noise runs wholly on the device, and that certificates made
 * there equal the CPU's for the same seed and noise.
 */
import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { certifyInput } from "../src/core/certifier.js";
import { NOISE_SQUARES } from "../src/core/noise.js";
import { buildNoiseModel, buildNoisyClassifier, noisyFeeds } from "../src/runtime/graph/index.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";
import { hasGpuDevice, providerStatus, resolveProviders } from "../src/runtime/providers.js";

const status = await providerStatus("webgpu");
// CI installs a Vulkan driver (.ci/run), so there the provider must be there; elsewhere it may not be.
const required = process.env.CI === "true";

interface ProfileEvent {
  cat: string;
  name: string;
  args: { op_name?: string; provider?: string };
}

/** Each node's provider, from one profiled run of `model` on WebGPU. */
async function placement(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Map<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "dualrs-webgpu-"));
  try {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ["webgpu"],
      enableProfiling: true,
      profileFilePrefix: join(dir, "profile"),
    });
    await session.run(feeds);
    session.endProfiling();
    await session.release();
    const { readdirSync } = await import("node:fs");
    const file = readdirSync(dir).find((f) => f.endsWith(".json")) ?? "";
    const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as ProfileEvent[];
    const nodes = new Map<string, string>();
    for (const e of events) {
      if (e.cat === "Node" && e.name.endsWith("_kernel_time")) nodes.set(e.name, e.args.provider ?? "");
    }
    return nodes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tensors(feeds: ReturnType<typeof noisyFeeds>, names: readonly string[]): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(feeds)
      .filter(([name]) => names.includes(name))
      .map(([name, f]) => [name, new ort.Tensor(f.data, [...f.dims])]),
  );
}

it("auto never picks WebGPU without a GPU, where its adapter would be a software one", async () => {
  const providers = await resolveProviders("auto");
  if (!hasGpuDevice()) expect(providers).toEqual(["cpu"]);
  else expect(providers[0]).not.toBe("cpu");
});

describe.skipIf(!status.available && !required)("webgpu provider", () => {
  it("is available", () => {
    expect(status).toEqual({ available: true });
  });

  const batch = { x: new Float32Array(784).fill(0.5), sigma: 0.5, seed: 7, stream: 1, first: 0, count: 64 };

  it("runs every node of squares32 noise on the device", async () => {
    const model = buildNoiseModel(784, { noise: NOISE_SQUARES, device: true });
    const feeds = tensors(noisyFeeds(batch, NOISE_SQUARES), ["key", "stream", "first", "count"]);
    const nodes = await placement(model, feeds);
    expect(nodes.size).toBeGreaterThan(100);
    expect([...nodes].filter(([, provider]) => provider !== "WebGpuExecutionProvider")).toEqual([]);
  });

  it("runs the noise and the expert of a noisy classifier on the device", async () => {
    const store = localModelStore("models");
    const manifest = await store.loadManifest("fmnist-expert-0.25");
    const model = manifest.models[manifest.options[0]?.chain[0] ?? ""];
    const bytes = await store.readModel(model?.file ?? "", manifest.id);
    const graph = buildNoisyClassifier([bytes], [undefined], [1, 28, 28], {
      noise: NOISE_SQUARES,
      device: true,
    });
    const feeds = tensors(noisyFeeds(batch, NOISE_SQUARES), [
      "x",
      "sigma",
      "key",
      "stream",
      "first",
      "count",
    ]);
    const nodes = await placement(graph, feeds);
    const onCpu = [...nodes].filter(([, provider]) => provider !== "WebGpuExecutionProvider").map(([n]) => n);
    // Only the non-finite check's IsNaN and its reduction may stay on the CPU.
    expect(onCpu.filter((n) => !/non_?finite|IsNaN|Reduce/i.test(n))).toEqual([]);
  });

  describe.each(["fmnist-expert-0.25", "fmnist-dual-experts"])("certifies %s", (id) => {
    const closers: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const close of closers) await close();
    });

    it("as the CPU does with the same seed and noise", async () => {
      const store = localModelStore("models");
      const gpu = await loadCertifier(store, id, { providers: ["webgpu"] });
      const cpu = await loadCertifier(store, id, {
        providers: ["cpu"],
        noiseVersion: NOISE_SQUARES,
        threads: 1,
      });
      closers.push(gpu.close, cpu.close);
      expect(gpu.noise).toBe(NOISE_SQUARES);
      const images = JSON.parse(readFileSync("src/web/public/images/index.json", "utf8")) as {
        file: string;
      }[];
      expect(images.length).toBeGreaterThan(0);
      const x = new Float32Array(784).map((_, j) => ((j * 37) % 255) / 255);
      const parameters = { n0: 32, n: 256, alpha: 0.01, seed: 12345, batchSize: 128 };
      const [a, b] = [await certifyInput(gpu, x, parameters), await certifyInput(cpu, x, parameters)];
      expect(a.noise).toBe("squares32/box-muller");
      expect(a).toEqual(b);
    });
  });
});
