/**
 * The host's counter-based Gaussian noise (src/core/noise.ts) as ONNX ops.
 *
 * Philox4x32-10: element j of draw i takes Philox4x32-10 of (j >> 2, first + i, stream, 0) under the
 * seed's key, then Box-Muller. The integer words are bit-exact. r = sqrt(-2 ln u1) runs in float64,
 * as on the host: a float32 u1 would lose its low bits, and near u1 = 1 (r near 0) sqrt(-2 ln u1) is
 * steep. The angle is computed in float64 and rounded to float32 for Cos and Sin, which are vectorized
 * in float32 only and 4x faster: that costs at most r * 2^-22 + float32 rounding, under 3e-6 as
 * |r| <= 6.8 (tested < 1e-5).
 *
 * squares32 (src/core/squares.ts): words bit-exact, Box-Muller in float32 as its definition says; its
 * graph can be built from operators that GPU providers run on the device (`device`).
 */
import { NOISE, NOISE_SQUARES, type NoiseVersion } from "../../core/noise.js";
import { emitPhilox, type Word, word, ZERO } from "./philox.js";
import { attr, DT, type GraphBuilder } from "./proto.js";
import { emitSquares } from "./squares.js";

/** Graph tensors that key the noise (types as in buildNoisyClassifier's inputs). */
export interface NoiseKey {
  /** uint32 [2]: Philox: (seed mod 2^32, floor(seed / 2^32)); squares32: squaresKey(seed, stream). */
  readonly key: string;
  /** uint32 [1]. */
  readonly stream: string;
  /** uint32 [1]: index of the first draw. */
  readonly first: string;
  /** int32 []: number of draws. */
  readonly count: string;
}

export interface GaussianOptions {
  /** Default NOISE. */
  readonly version?: NoiseVersion | undefined;
  /** squares32 from operators that GPU providers run on the device (squares.ts). */
  readonly device?: boolean | undefined;
  /** Also return the raw words (tests). */
  readonly words?: boolean | undefined;
}

export interface GaussianTensors {
  /** float32 [count, dim]. */
  readonly noise: string;
  /**
   * uint32 words (for tests): Philox's [count, 4 ceil(dim / 4)], element j's block word j & 3;
   * squares32's [count, 2 ceil(dim / 2)], word c of each draw.
   */
  readonly words?: string;
}

const DRAWS = 1;
const BLOCKS = 2;
const INV_TWO_POW_32 = 2 ** -32;

/** Emits noise [count, dim]; with `words`, also the raw words. */
export function emitGaussian(
  g: GraphBuilder,
  dim: number,
  k: NoiseKey,
  options: GaussianOptions = {},
): GaussianTensors {
  const [k0, k1] = g.ops("Split", [k.key], 2, [attr.int("axis", 0), attr.int("num_outputs", 2)]) as [
    string,
    string,
  ];
  // int32 Range: GPU providers run it, where an int64 one stays on the CPU.
  const range = g.op("Range", [g.i32Scalar(0), k.count, g.i32Scalar(1)]);
  const drawIndex = g.op("Reshape", [g.op("Add", [g.cast(range, DT.UINT32), k.first]), g.i64([-1, 1])]);
  const noise =
    (options.version ?? NOISE) === NOISE_SQUARES
      ? squaresGaussian(g, dim, drawIndex, k0, k1, options.device === true)
      : philoxGaussian(g, dim, drawIndex, k0, k1, k.stream, options.words === true);
  return options.words ? noise : { noise: noise.noise };
}

function philoxGaussian(
  g: GraphBuilder,
  dim: number,
  drawIndex: string,
  k0: string,
  k1: string,
  stream: string,
  withWords: boolean,
): GaussianTensors {
  const blocks = Math.ceil(dim / 4);
  const blockIndex = g.u32(
    Array.from({ length: blocks }, (_, b) => b),
    [blocks],
  );
  const w = emitPhilox(g, [word(blockIndex, BLOCKS), word(drawIndex, DRAWS), word(stream, 0), ZERO], k0, k1);
  const [z0, z1] = boxMuller(g, w[0], w[1]);
  const [z2, z3] = boxMuller(g, w[2], w[3]);
  let noise = interleave(g, [z0, z1, z2, z3]);
  if (4 * blocks !== dim) noise = g.op("Slice", [noise, g.i64([0]), g.i64([dim]), g.i64([1])]);
  return withWords ? { noise, words: interleave(g, w.map(full)) } : { noise };
}

/** squares32 words 2p and 2p + 1 of each draw make elements 2p and 2p + 1 (squares.ts in core). */
function squaresGaussian(
  g: GraphBuilder,
  dim: number,
  drawIndex: string,
  keyLow: string,
  keyHigh: string,
  device: boolean,
): Required<GaussianTensors> {
  const pairs = Math.ceil(dim / 2);
  const low = g.u32(
    Array.from({ length: 2 * pairs }, (_, c) => c),
    [2 * pairs],
  );
  const words = emitSquares(g, { high: drawIndex, low, keyLow, keyHigh }, device);
  const [a, b] = g
    .ops("Split", [g.op("Reshape", [words, g.i64([0, pairs, 2])])], 2, [
      attr.int("axis", 2),
      attr.int("num_outputs", 2),
    ])
    .map((t) => g.op("Reshape", [t, g.i64([0, pairs])])) as [string, string];
  // u1 = f32(f32(a) + 0.5) 2^-32, t = f32(f32(b) f32(2 pi 2^-32)): float32 throughout.
  const u1 = g.op("Mul", [g.op("Add", [g.cast(a, DT.FLOAT), g.f32(0.5)]), g.f32(INV_TWO_POW_32)]);
  const r = g.op("Sqrt", [g.op("Mul", [g.op("Log", [u1]), g.f32(-2)])]);
  const t = g.op("Mul", [g.cast(b, DT.FLOAT), g.f32(2 * Math.PI * INV_TWO_POW_32)]);
  let noise = interleave(g, [g.op("Mul", [r, g.op("Cos", [t])]), g.op("Mul", [r, g.op("Sin", [t])])]);
  if (2 * pairs !== dim) noise = g.op("Slice", [noise, g.i64([0]), g.i64([dim]), g.i64([1])]);
  return { noise, words };
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

/** Q [count, B] tensors to [count, Q B] with element Q b + q from tensor q. */
function interleave(g: GraphBuilder, parts: readonly string[]): string {
  const last = g.i64([-1]);
  const stacked = g.op(
    "Concat",
    parts.map((p) => g.op("Unsqueeze", [p, last])),
    [attr.int("axis", -1)],
  );
  return g.op("Reshape", [stacked, g.i64([0, -1])]);
}
