import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { compileGaussian } from "../scripts/wasm.js";
import { certify } from "../src/core/certify.js";
import { fillNoisy, withHostNoise } from "../src/core/host-noise.js";
import type { BatchClassifier, DrawBatch } from "../src/core/model.js";
import { NOISE_SQUARES } from "../src/core/noise.js";
import { sampleCounts } from "../src/core/sampler.js";
import { composeClassifier } from "../src/runtime/graph/index.js";
import { GAUSSIAN_WASM } from "../src/runtime/noise/gaussian-wasm.js";
import { NoiseMaker } from "../src/runtime/noise/maker.js";
import { withNoiseMaker } from "../src/runtime/noise/prefetch.js";
import { WasmGaussian } from "../src/runtime/noise/wasm-gaussian.js";

/** Deterministic inputs in [0, 1). */
function inputOf(seed: number, dim: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: dim }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

function firstMismatch(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe("the WebAssembly noise", () => {
  it("is the module that wasm/gaussian.ts compiles to (npm run wasm)", async () => {
    const built = Buffer.from(await compileGaussian()).toString("base64");
    expect(built === GAUSSIAN_WASM, "src/runtime/noise/gaussian-wasm.ts is stale: run npm run wasm").toBe(
      true,
    );
  }, 60_000);

  const cases: [string, number, number, number, number, number, number][] = [
    // name, dim, count, seed, stream, first, sigma
    ["one element", 1, 5, 0, 0, 0, 0.25],
    ["three elements (a partial Philox block)", 3, 7, 1, 2, 3, 0.5],
    ["a full vector", 16, 4, 42, 1, 0, 1],
    ["one past a vector", 17, 9, 2 ** 53 - 1, 2 ** 32 - 1, 2 ** 32 - 9, 0.12],
    ["Fashion-MNIST", 784, 40, 123456789012, 7, 1000, 0.12],
    ["CIFAR-10", 3 * 32 * 32, 6, 5, 3, 77, 0.5],
  ];

  it.each(cases)("equals core's fillNoisy bit for bit: %s", (_, dim, count, seed, stream, first, sigma) => {
    const b: DrawBatch = { x: inputOf(dim, dim), sigma, seed, stream, first, count };
    const expected = new Float32Array(dim * count);
    fillNoisy(expected, b);
    const got = new Float32Array(dim * count);
    new WasmGaussian().fillNoisy(got, b);
    expect(firstMismatch(got, expected)).toBe(-1);
  });

  it("checks its arguments as fillGaussian does", () => {
    const w = new WasmGaussian();
    const x = new Float32Array(4);
    expect(() =>
      w.fillNoisy(new Float32Array(4), { x, sigma: 1, seed: -1, stream: 0, first: 0, count: 1 }),
    ).toThrow(/seed/);
    expect(() =>
      w.fillNoisy(new Float32Array(3), { x, sigma: 1, seed: 0, stream: 0, first: 0, count: 1 }),
    ).toThrow(/out holds 3/);
    expect(() =>
      w.fillNoisy(new Float32Array(8), { x, sigma: 1, seed: 0, stream: 0, first: 2 ** 32 - 1, count: 2 }),
    ).toThrow(/below 2\^32/);
  });
});

describe("host noise made ahead on the noise thread", () => {
  const maker = new NoiseMaker();
  afterAll(() => maker.close());

  /** The zoo's sigma = 0.25 expert, composed as the runtime runs it, recording every batch it is given. */
  async function expert(): Promise<{
    model: BatchClassifier;
    seen: Float32Array[];
    close: () => Promise<void>;
  }> {
    const manifest = JSON.parse(await readFile("models/fmnist-expert-0.25.json", "utf8"));
    const file = Object.values(manifest.models as Record<string, { file: string }>)[0]?.file ?? "";
    const bytes = new Uint8Array(await readFile(`models/${file}`));
    const session = await ort.InferenceSession.create(composeClassifier([bytes], [], [1, 28, 28]), {
      intraOpNumThreads: 1,
    });
    const seen: Float32Array[] = [];
    const model: BatchClassifier = {
      classes: 10,
      async classify(inputs, count) {
        seen.push(inputs.slice());
        const out = await session.run({ batch: new ort.Tensor("float32", inputs, [count, 1, 28, 28]) });
        return Int32Array.from(out.classes?.data as BigInt64Array, Number);
      },
    };
    return { model, seen, close: () => session.release() };
  }

  it("gives the inputs and counts of core's host noise, batch for batch", async () => {
    const a = await expert();
    const b = await expert();
    const x = inputOf(9, 784);
    const spec = { x, sigma: 0.25, seed: 31, stream: 2, num: 1234, batchSize: 200, from: 17 };
    const ahead = await sampleCounts(withNoiseMaker(a.model, maker), spec);
    const host = await sampleCounts(withHostNoise(b.model), spec);
    expect(Array.from(ahead)).toEqual(Array.from(host));
    expect(a.seen.length).toBe(7);
    for (let i = 0; i < a.seen.length; i++)
      expect(firstMismatch(a.seen[i] as Float32Array, b.seen[i] as Float32Array)).toBe(-1);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("certifies as core's host noise does, the estimation's first batch made during the selection", async () => {
    const a = await expert();
    const b = await expert();
    const x = inputOf(11, 784);
    const spec = {
      sigma: 0.25,
      n0: 100,
      n: 2500,
      alpha: 0.001,
      batchSize: 1000,
      seed: 4,
      stage: "classifier" as const,
    };
    const ahead = await certify(withNoiseMaker(a.model, maker), x, spec);
    const host = await certify(withHostNoise(b.model), x, spec);
    expect(ahead).toEqual(host);
    expect(a.seen.map((s) => s.length)).toEqual([100, 1000, 1000, 500].map((n) => n * 784));
    for (let i = 0; i < a.seen.length; i++)
      expect(firstMismatch(a.seen[i] as Float32Array, b.seen[i] as Float32Array)).toBe(-1);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("makes the right draws when the next batch is not the one it was told of", async () => {
    const a = await expert();
    const x = inputOf(3, 784);
    const noisy = withNoiseMaker(a.model, maker);
    const batch = { x, sigma: 0.5, seed: 8, stream: 0 };
    // Told that draws 100..199 come next, then asked for others, and with another x.
    await noisy.countBatch({ ...batch, first: 0, count: 100, next: { first: 100, count: 100 } });
    await noisy.countBatch({ ...batch, first: 300, count: 50, next: { first: 350, count: 50 } });
    const other = inputOf(4, 784);
    await noisy.countBatch({ ...batch, x: other, first: 350, count: 50 });
    const expected = new Float32Array(50 * 784);
    fillNoisy(expected, { ...batch, x: other, first: 350, count: 50 });
    expect(firstMismatch(a.seen[2] as Float32Array, expected)).toBe(-1);
    fillNoisy(expected, { ...batch, first: 300, count: 50 });
    expect(firstMismatch(a.seen[1] as Float32Array, expected)).toBe(-1);
    await a.close();
  }, 60_000);

  it("makes squares32 noise too, on the thread with core's code", async () => {
    const x = inputOf(5, 784);
    const b: DrawBatch = { x, sigma: 1, seed: 2, stream: 1, first: 10, count: 3 };
    const expected = new Float32Array(3 * 784);
    fillNoisy(expected, b, NOISE_SQUARES);
    expect(firstMismatch(await maker.make(b, NOISE_SQUARES), expected)).toBe(-1);
  });

  it("refuses bad draws with the noise's own error, and goes on", async () => {
    const x = inputOf(5, 16);
    await expect(
      maker.make({ x, sigma: 1, seed: 0.5, stream: 0, first: 0, count: 1 }, "philox4x32-10/box-muller"),
    ).rejects.toThrow(/seed must be a safe integer/);
    const inputs = await maker.make(
      { x, sigma: 1, seed: 1, stream: 0, first: 0, count: 2 },
      "philox4x32-10/box-muller",
    );
    expect(inputs.length).toBe(32);
  });

  it("refuses what is still open when closed", async () => {
    const own = new NoiseMaker();
    const x = inputOf(5, 784);
    const open = own.make(
      { x, sigma: 1, seed: 1, stream: 0, first: 0, count: 2000 },
      "philox4x32-10/box-muller",
    );
    const refused = expect(open).rejects.toThrow(/closed/);
    await own.close();
    await refused;
    await expect(
      own.make({ x, sigma: 1, seed: 1, stream: 0, first: 0, count: 1 }, "philox4x32-10/box-muller"),
    ).rejects.toThrow(/closed/);
  });
});
