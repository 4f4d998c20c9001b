import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { fillGaussian, NOISE_SQUARES, philox4x32, seedKey } from "../src/core/noise.js";
import { squares32, squaresKey } from "../src/core/squares.js";
import {
  buildNoiseModel,
  buildNoisyClassifier,
  composeClassifier,
  GRAPH_INPUTS,
  noisyFeeds,
} from "../src/runtime/graph/index.js";
import { DT, GraphError, P } from "../src/runtime/graph/proto.js";
import {
  attr,
  buildModel,
  floatInput,
  floats,
  node,
  randomLinearModel,
  rng,
  sigmaModel,
} from "./helpers/onnx-builder.js";

const SHAPE = [1, 28, 28];
const DIM = 784;

const session = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });

interface NoiseRun {
  noise: Float32Array;
  words: Uint32Array;
}

async function runNoise(s: ort.InferenceSession, seed: number, stream: number, first: number, count: number) {
  const [k0, k1] = seedKey(seed);
  const out = await s.run({
    key: new ort.Tensor(Uint32Array.of(k0, k1), [2]),
    stream: new ort.Tensor(Uint32Array.of(stream), [1]),
    first: new ort.Tensor(Uint32Array.of(first), [1]),
    count: new ort.Tensor(Int32Array.of(count), []),
  });
  return { noise: out.noise?.data as Float32Array, words: out.words?.data as Uint32Array } as NoiseRun;
}

/** Index of the first element where a and b differ, -1 if none (toEqual is slow on 10^6 elements). */
function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return j;
  return -1;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs((a[j] as number) - (b[j] as number)));
  return m;
}

/** Runs each model in its own session, as the chain is meant: first output feeds the next. */
async function runSeparately(
  models: Uint8Array[],
  sigmaInputs: (string | undefined)[],
  batch: Float32Array,
  count: number,
  sigma: number,
): Promise<Float32Array> {
  let value: ort.Tensor = new ort.Tensor("float32", batch, [count, ...SHAPE]);
  for (const [k, bytes] of models.entries()) {
    const s = await session(bytes);
    const feeds: Record<string, ort.Tensor> = {};
    const data = s.inputNames.find((n) => n !== sigmaInputs[k]) as string;
    feeds[data] = value;
    const sigmaName = sigmaInputs[k];
    if (sigmaName) feeds[sigmaName] = new ort.Tensor("float32", new Float32Array(count).fill(sigma), [count]);
    const out = await s.run(feeds);
    value = out[s.outputNames[0] as string] as ort.Tensor;
    await s.release();
  }
  return value.data as Float32Array;
}

function argmaxRows(logits: Float32Array, rows: number): { classes: number[]; margins: number[] } {
  const c = logits.length / rows;
  const classes: number[] = [];
  const margins: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(logits.subarray(r * c, (r + 1) * c));
    const best = row.indexOf(Math.max(...row));
    const sorted = [...row].sort((a, b) => b - a);
    classes.push(best);
    margins.push((sorted[0] as number) - (sorted[1] as number));
  }
  return { classes, margins };
}

const randomInput = (seed: number, n: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
};

/** Opset 11: Squeeze/Unsqueeze/Split/ReduceSum with attribute axes, Dropout with ratio, Softmax on 4D. */
function opset11Model(): Uint8Array {
  return buildModel({
    opset: 11,
    initializers: [floats("hundred", [], [100])],
    nodes: [
      node("Squeeze", ["x"], ["s"], [attr.ints("axes", [1])]),
      node("Unsqueeze", ["s"], ["u"], [attr.ints("axes", [1])]),
      node("Dropout", ["u"], ["d"], [{ name: "ratio", type: 1, f: 0.5 }]),
      node("Split", ["d"], ["a", "b"], [attr.int("axis", 2), attr.ints("split", [10, 18])]),
      node("ReduceSum", ["a"], ["ra"], [attr.ints("axes", [2]), attr.int("keepdims", 1)]),
      node("Add", ["a", "ra"], ["a2"]),
      node("Split", ["b"], ["b1", "b2"], [attr.int("axis", 3)]),
      node("Concat", ["b2", "b1"], ["b3"], [attr.int("axis", 3)]),
      node("Concat", ["a2", "b3"], ["c"], [attr.int("axis", 2)]),
      // Softmax-11 normalizes over all of C*H*W (input coerced to 2D at axis 1), not over C alone.
      node("Softmax", ["c"], ["sm"], [attr.int("axis", 1)]),
      node("Mul", ["sm", "hundred"], ["y"]),
    ],
    inputs: [floatInput("x", ["N", ...SHAPE])],
    outputs: [floatInput("y", ["N", ...SHAPE])],
  });
}

/** Opset 17: ReduceMean with attribute axes (an input from opset 18 on). */
function reduceMeanModel(opset = 17): Uint8Array {
  return buildModel({
    opset,
    nodes: [
      node("ReduceMean", ["x"], ["m"], [attr.ints("axes", [2, 3]), attr.int("keepdims", 1)]),
      node("Sub", ["x", "m"], ["y"]),
    ],
    inputs: [floatInput("x", ["N", ...SHAPE])],
    outputs: [floatInput("y", ["N", ...SHAPE])],
  });
}

describe("graph noise", () => {
  it("equals the host noise: words bit for bit, normals within float32 rounding", async () => {
    for (const [dim, seed, stream, first, count] of [
      [13, 1, 0, 0, 200],
      [DIM, 2 ** 40 + 5, 3, 12345, 1000],
      [DIM, Number.MAX_SAFE_INTEGER, 2 ** 32 - 1, 2 ** 32 - 1000, 1000],
    ] as const) {
      const s = await session(buildNoiseModel(dim, { debug: true }));
      const { noise, words } = await runNoise(s, seed, stream, first, count);
      const host = new Float32Array(count * dim);
      fillGaussian(host, dim, seed, stream, first, count);
      expect(maxAbsDiff(noise, host)).toBeLessThan(1e-5);

      const blocks = Math.ceil(dim / 4);
      const [k0, k1] = seedKey(seed);
      const expected = new Uint32Array(count * 4 * blocks);
      for (let i = 0; i < count; i++) {
        for (let b = 0; b < blocks; b++) {
          philox4x32(b, first + i, stream, 0, k0, k1, expected.subarray((i * blocks + b) * 4));
        }
      }
      expect(firstMismatch(words, expected)).toBe(-1);
      await s.release();
    }
  });

  it("does not depend on how draws are batched", async () => {
    const s = await session(buildNoiseModel(DIM));
    const all = (await runNoise(s, 99, 1, 0, 1000)).noise;
    for (const chunk of [7, 100, 333]) {
      const pieces = new Float32Array(1000 * DIM);
      for (let first = 0; first < 1000; first += chunk) {
        const count = Math.min(chunk, 1000 - first);
        pieces.set((await runNoise(s, 99, 1, first, count)).noise, first * DIM);
      }
      expect(firstMismatch(pieces, all)).toBe(-1);
    }
    await s.release();
  });
});

describe("squares32 graph noise", () => {
  /** Operators that onnxruntime's WebGPU provider runs on the device (docs/benchmarks.md, GPU). */
  const deviceOps = new Set(
    "Add Sub Mul Div Less Cast Range Reshape Split Unsqueeze Concat Slice Log Sqrt Cos Sin Identity".split(
      " ",
    ),
  );

  async function runSquares(
    s: ort.InferenceSession,
    seed: number,
    stream: number,
    first: number,
    count: number,
  ) {
    const feeds = noisyFeeds({ x: Float32Array.of(0), sigma: 1, seed, stream, first, count }, NOISE_SQUARES);
    const out = await s.run({
      key: new ort.Tensor(feeds.key.data, [...feeds.key.dims]),
      stream: new ort.Tensor(feeds.stream.data, [...feeds.stream.dims]),
      first: new ort.Tensor(feeds.first.data, [...feeds.first.dims]),
      count: new ort.Tensor(feeds.count.data, [...feeds.count.dims]),
    });
    return { noise: out.noise?.data as Float32Array, words: out.words?.data as Uint32Array } as NoiseRun;
  }

  it.each([false, true])(
    "equals the host noise, words bit for bit (device operators: %s)",
    async (device) => {
      for (const [dim, seed, stream, first, count] of [
        [13, 1, 0, 0, 200],
        [DIM, 2 ** 40 + 5, 3, 12345, 500],
        [DIM, Number.MAX_SAFE_INTEGER, 2 ** 32 - 1, 2 ** 32 - 500, 500],
      ] as const) {
        const s = await session(buildNoiseModel(dim, { debug: true, noise: NOISE_SQUARES, device }));
        const { noise, words } = await runSquares(s, seed, stream, first, count);
        const host = new Float32Array(count * dim);
        fillGaussian(host, dim, seed, stream, first, count, NOISE_SQUARES);
        expect(maxAbsDiff(noise, host)).toBeLessThan(1e-5);
        const w = 2 * Math.ceil(dim / 2);
        const [kl, kh] = squaresKey(seed, stream);
        const expected = Uint32Array.from({ length: count * w }, (_, e) =>
          squares32(first + Math.floor(e / w), e % w, kl, kh),
        );
        expect(firstMismatch(words, expected)).toBe(-1);
        await s.release();
      }
    },
  );

  it("is built from device operators only, on uint32 and float32 tensors", () => {
    const model = P.ModelProto.decode(buildNoiseModel(DIM, { noise: NOISE_SQUARES, device: true }));
    const ops = new Set((model.graph?.node ?? []).map((n) => n.opType ?? ""));
    expect([...ops].filter((op) => !deviceOps.has(op))).toEqual([]);
    const types = (model.graph?.initializer ?? []).map((t) => t.dataType);
    expect(types).not.toContain(DT.UINT64);
    expect(types).not.toContain(DT.DOUBLE);
  });

  it("does not depend on how draws are batched", async () => {
    const s = await session(buildNoiseModel(DIM, { noise: NOISE_SQUARES, device: true }));
    const all = (await runSquares(s, 99, 1, 0, 600)).noise;
    const pieces = new Float32Array(600 * DIM);
    for (let first = 0; first < 600; first += 77) {
      const count = Math.min(77, 600 - first);
      pieces.set((await runSquares(s, 99, 1, first, count)).noise, first * DIM);
    }
    expect(firstMismatch(pieces, all)).toBe(-1);
    await s.release();
  });
});

describe("chain composition", () => {
  const chains: [string, Uint8Array[], (string | undefined)[]][] = [
    ["a linear model", [randomLinearModel(SHAPE, 10, 1)], []],
    [
      "a denoiser taking sigma, then a linear model",
      [sigmaModel(SHAPE), randomLinearModel(SHAPE, 10, 2)],
      ["sigma"],
    ],
    [
      "models of opsets 11, 17 and 17 with clashing names",
      [opset11Model(), reduceMeanModel(), sigmaModel(SHAPE, "noise_level"), randomLinearModel(SHAPE, 10, 3)],
      [undefined, undefined, "noise_level"],
    ],
    ["ReduceMean at opset 17 upgraded to 18", [reduceMeanModel(17), randomLinearModel(SHAPE, 10, 4, 18)], []],
  ];

  it.each(chains)("of %s equals running the models one by one", async (_, models, sigmaInputs) => {
    const count = 64;
    const sigma = 0.5;
    const batch = randomInput(7, count * DIM);
    const expected = await runSeparately(models, sigmaInputs, batch, count, sigma);
    const s = await session(composeClassifier(models, sigmaInputs, SHAPE, { logits: true }));
    const feeds: Record<string, ort.Tensor> = { batch: new ort.Tensor("float32", batch, [count, ...SHAPE]) };
    if (s.inputNames.includes("sigma")) {
      feeds.sigma = new ort.Tensor("float32", new Float32Array(count).fill(sigma), [count]);
    }
    const out = await s.run(feeds);
    const logits = out.logits?.data as Float32Array;
    expect(maxAbsDiff(logits, expected)).toBeLessThan(1e-4);
    expect(Array.from(out.classes?.data as BigInt64Array, Number)).toEqual(
      argmaxRows(expected, count).classes,
    );
    await s.release();
  });

  it("rejects what it cannot compose", () => {
    const linear = randomLinearModel(SHAPE, 10, 1);
    expect(() => composeClassifier([randomLinearModel(SHAPE, 10, 1, 10)], [], SHAPE)).toThrow(/opset 10/);
    expect(() => composeClassifier([linear], ["sigma"], SHAPE)).toThrow(/no input "sigma"/);
    expect(() => composeClassifier([sigmaModel(SHAPE), linear], [], SHAPE)).toThrow(/one data input/);
    expect(() => composeClassifier([new Uint8Array([1, 2, 3])], [], SHAPE)).toThrow(GraphError);
    const custom = (version: number) =>
      buildModel({
        imports: [{ domain: "com.example", version }],
        nodes: [node("Mystery", ["x"], ["y"], [], "com.example")],
        inputs: [floatInput("x", ["N", ...SHAPE])],
        outputs: [floatInput("y", ["N", ...SHAPE])],
      });
    expect(() => composeClassifier([custom(1), custom(2), linear], [], SHAPE)).toThrow(/must agree/);
  });
});

describe("noisy classifier", () => {
  it.each([
    ["a linear model", [randomLinearModel(SHAPE, 10, 5)], []],
    [
      "opset-11 and opset-17 models and a denoiser",
      [opset11Model(), sigmaModel(SHAPE), randomLinearModel(SHAPE, 10, 6)],
      [undefined, "sigma"],
    ],
  ] as [string, Uint8Array[], (string | undefined)[]][])(
    "of %s classifies x + sigma * host noise",
    async (_, models, sigmaInputs) => {
      const x = randomInput(11, DIM);
      const batch = { x, sigma: 0.25, seed: 2 ** 33 + 17, stream: 2, first: 500, count: 300 };
      const s = await session(buildNoisyClassifier(models, sigmaInputs, SHAPE, { debug: true }));
      const feeds = Object.fromEntries(
        Object.entries(noisyFeeds(batch)).map(([k, v]) => [k, new ort.Tensor(v.data, v.dims)]),
      );
      const out = await s.run(feeds);

      const eps = new Float32Array(batch.count * DIM);
      fillGaussian(eps, DIM, batch.seed, batch.stream, batch.first, batch.count);
      expect(maxAbsDiff(out.noise?.data as Float32Array, eps)).toBeLessThan(1e-5);

      const noisy = eps.map((e, j) => (x[j % DIM] as number) + batch.sigma * e);
      const expected = argmaxRows(
        await runSeparately(models, sigmaInputs, noisy, batch.count, batch.sigma),
        batch.count,
      );
      const got = Array.from(out.classes?.data as BigInt64Array, Number);
      expect(got).toHaveLength(batch.count);
      // Noise differs from the host's by float32 rounding only: classes may differ at near-ties alone.
      for (let i = 0; i < batch.count; i++) {
        if (got[i] !== expected.classes[i]) expect(expected.margins[i]).toBeLessThan(1e-3);
      }
      expect(got.filter((c, i) => c === expected.classes[i]).length).toBeGreaterThan(0.99 * batch.count);
      await s.release();
    },
  );

  it("takes its inputs as documented", () => {
    const feeds = noisyFeeds({
      x: new Float32Array(4),
      sigma: 0.5,
      seed: 2 ** 32 + 3,
      stream: 1,
      first: 2,
      count: 5,
    });
    expect(Object.keys(feeds).sort()).toEqual(
      [
        GRAPH_INPUTS.x,
        GRAPH_INPUTS.sigma,
        GRAPH_INPUTS.key,
        GRAPH_INPUTS.stream,
        GRAPH_INPUTS.first,
        GRAPH_INPUTS.count,
      ].sort(),
    );
    expect(Array.from(feeds.key.data as Uint32Array)).toEqual([3, 1]);
    expect(feeds.count.data).toEqual(Int32Array.of(5));
    expect(feeds.count.dims).toEqual([]);
  });
});
