/**
 * The host's counter-based Gaussian noise (src/core/noise.ts) as ONNX ops: element j of draw i takes
 * Philox4x32-10 of (j >> 2, first + i, stream, 0) under the seed's key, then Box-Muller.
 *
 * The integer words are bit-exact. r = sqrt(-2 ln u1) runs in float64, as on the host: a float32 u1
 * would lose its low bits, and near u1 = 1 (r near 0) sqrt(-2 ln u1) is steep. The angle is computed
 * in float64 and rounded to float32 for Cos and Sin, which are vectorized in float32 only and 4x
 * faster: that costs at most r * 2^-22 + float32 rounding, under 3e-6 as |r| <= 6.8 (tested < 1e-5).
 */
import { emitPhilox, type Word, word, ZERO } from "./philox.js";
import { attr, DT, type GraphBuilder } from "./proto.js";

/** Graph tensors that key the noise (types as in buildNoisyClassifier's inputs). */
export interface NoiseKey {
  /** uint32 [2]: (seed mod 2^32, floor(seed / 2^32)). */
  readonly key: string;
  /** uint32 [1]. */
  readonly stream: string;
  /** uint32 [1]: index of the first draw. */
  readonly first: string;
  /** int64 [1]: number of draws. */
  readonly count: string;
}

export interface GaussianTensors {
  /** float32 [count, dim]. */
  readonly noise: string;
  /** uint32 [count, 4 ceil(dim / 4)]: Philox words, element j's block word j & 3 (for tests). */
  readonly words?: string;
}

const DRAWS = 1;
const BLOCKS = 2;
const INV_TWO_POW_32 = 2 ** -32;

/** Emits noise [count, dim]; with `words`, also the raw Philox words. */
export function emitGaussian(g: GraphBuilder, dim: number, k: NoiseKey, words = false): GaussianTensors {
  const blocks = Math.ceil(dim / 4);
  const [k0, k1] = g.ops("Split", [k.key], 2, [attr.int("axis", 0), attr.int("num_outputs", 2)]) as [
    string,
    string,
  ];
  const n = g.op("Squeeze", [k.count]);
  const range = g.op("Range", [g.i64Scalar(0), n, g.i64Scalar(1)]);
  const drawIndex = g.op("Reshape", [g.op("Add", [g.cast(range, DT.UINT32), k.first]), g.i64([-1, 1])]);
  const blockIndex = g.u32(
    Array.from({ length: blocks }, (_, b) => b),
    [blocks],
  );
  const w = emitPhilox(
    g,
    [word(blockIndex, BLOCKS), word(drawIndex, DRAWS), word(k.stream, 0), ZERO],
    k0,
    k1,
  );
  const [z0, z1] = boxMuller(g, w[0], w[1]);
  const [z2, z3] = boxMuller(g, w[2], w[3]);
  let noise = interleave(g, [z0, z1, z2, z3]);
  if (4 * blocks !== dim) noise = g.op("Slice", [noise, g.i64([0]), g.i64([dim]), g.i64([1])]);
  if (!words) return { noise };
  return { noise, words: interleave(g, w.map(full)) };
}

function full(x: Word): string {
  // After 10 rounds every word spans both axes; a zero or narrower word would mean a wiring bug.
  if (x.name === null || x.axes !== (DRAWS | BLOCKS)) throw new Error("philox word does not span [count, B]");
  return x.name;
}

/** (r cos t, r sin t) with u1 = (a + 0.5) 2^-32, u2 = b 2^-32, r = sqrt(-2 ln u1), t = 2 pi u2. */
function boxMuller(g: GraphBuilder, a: Word, b: Word): [string, string] {
  const u1 = g.op("Mul", [g.op("Add", [g.cast(full(a), DT.DOUBLE), g.f64(0.5)]), g.f64(INV_TWO_POW_32)]);
  const r = g.cast(g.op("Sqrt", [g.op("Mul", [g.op("Log", [u1]), g.f64(-2)])]), DT.FLOAT);
  const t = g.cast(g.op("Mul", [g.cast(full(b), DT.DOUBLE), g.f64(2 * Math.PI * INV_TWO_POW_32)]), DT.FLOAT);
  return [g.op("Mul", [r, g.op("Cos", [t])]), g.op("Mul", [r, g.op("Sin", [t])])];
}

/** Four [count, B] tensors to [count, 4B] with element 4b + q from tensor q. */
function interleave(g: GraphBuilder, parts: readonly string[]): string {
  const last = g.i64([-1]);
  const stacked = g.op(
    "Concat",
    parts.map((p) => g.op("Unsqueeze", [p, last])),
    [attr.int("axis", -1)],
  );
  return g.op("Reshape", [stacked, g.i64([0, -1])]);
}
