/**
 * Counter-based Gaussian noise: draw i of a certificate is a pure function of (seed, stream, i), so a
 * certificate is reproducible whatever the batch size, and the same noise can be rebuilt inside an
 * ONNX graph (src/runtime/graph/) from integer ops.
 *
 * Generator: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011; reference code: Random123 philox.h). Normals: Box-Muller (Box & Muller 1958).
 *
 * Layout. Key (k0, k1) = (seed mod 2^32, floor(seed / 2^32)). Element j of draw i of a flattened input
 * takes counter (j >> 2, i, stream, 0); its 4 output words w0..w3 give 4 normals
 *   u1 = (w0 + 0.5) 2^-32, u2 = w1 2^-32, r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2)
 * and likewise (w2, w3) -> (z2, z3); element j takes z_(j & 3).
 * u1 keeps all 32 bits (plus a half step, so it is never 0): its smallest value 2^-33 cuts the tail at
 * sqrt(66 ln 2) ~ 6.8 sigma, where a 24-bit (float32) uniform would cut it at ~5.9 sigma.
 *
 * A second generator, "squares32/box-muller" (src/core/squares.ts), needs no bitwise operator, so that
 * onnxruntime's GPU providers (WebGPU, CUDA), which have none, make its noise wholly on the device.
 */

/** The noise generators a certificate can name. */
export const NOISE_VERSIONS = ["philox4x32-10/box-muller", "squares32/box-muller"] as const;
export type NoiseVersion = (typeof NOISE_VERSIONS)[number];
/** Philox4x32-10: the default, and the only noise of earlier certificates. */
export const NOISE: NoiseVersion = "philox4x32-10/box-muller";
/** Widynski's Squares: made from multiplications and additions alone (src/core/squares.ts). */
export const NOISE_SQUARES: NoiseVersion = "squares32/box-muller";

import { fillSquaresGaussian } from "./squares.js";

/** Philox4x32 multipliers and Weyl key increments (Random123 philox.h). */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
/** 2 pi 2^-32: scaling by a power of two is exact, so w * this equals (w 2^-32) (2 pi). */
const TWO_PI_INV_TWO_POW_32 = 2 * Math.PI * INV_TWO_POW_32;

/**
 * High 32 bits of a * b for uint32 a, b, exactly. The double product a * b (< 2^64) is off by at most
 * 2^11; minus the exact low word (Math.imul) it is within 2^12 of hi * 2^32, so rounding recovers hi.
 */
export function mulhi32(a: number, b: number): number {
  return ((a * b - (Math.imul(a, b) >>> 0)) * INV_TWO_POW_32 + 0.5) >>> 0;
}

/** Philox4x32-10 of counter (c0..c3) under key (k0, k1), all uint32; writes 4 words to out[0..3]. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let a = k0 >>> 0;
  let b = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      a = (a + W0) >>> 0;
      b = (b + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ a) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ b) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

/** The Philox key of a seed: a safe integer 0 <= seed <= 2^53 - 1. */
export function seedKey(seed: number): [k0: number, k1: number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a safe integer in [0, 2^53 - 1], got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / TWO_POW_32)];
}

function checkUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= TWO_POW_32) {
    throw new RangeError(`${name} must be an integer in [0, 2^32), got ${v}`);
  }
}

/** Checks the arguments of fillGaussian, which every implementation of the noise takes. */
export function checkDraws(
  out: Float32Array,
  dim: number,
  stream: number,
  first: number,
  count: number,
): void {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be >= 0, got ${count}`);
  checkUint32("stream", stream);
  checkUint32("first", first);
  if (first + count > TWO_POW_32) throw new RangeError("draw indices must stay below 2^32");
  if (out.length < count * dim) throw new RangeError(`out holds ${out.length} < ${count * dim} values`);
}

/**
 * Fills out[k * dim + j], for k < count and j < dim, with element j of draw i = first + k, of the
 * given noise version.
 * Hot path: Philox rounds and Box-Muller are inlined and nothing is allocated in the loops.
 */
export function fillGaussian(
  out: Float32Array,
  dim: number,
  seed: number,
  stream: number,
  first: number,
  count: number,
  version: NoiseVersion = NOISE,
): void {
  checkDraws(out, dim, stream, first, count);
  if (version === NOISE_SQUARES) {
    fillSquaresGaussian(out, dim, seed, stream, first, count);
    return;
  }
  const [k0, k1] = seedKey(seed);
  const blocks = dim >>> 2;
  const tail = dim & 3;
  const s = stream >>> 0;
  for (let k = 0; k < count; k++) {
    const i = first + k;
    const row = k * dim;
    for (let blk = 0; blk <= blocks; blk++) {
      const n = blk < blocks ? 4 : tail;
      if (n === 0) break;
      // Philox4x32-10 of (blk, i, stream, 0), inlined (see philox4x32).
      let x0 = blk;
      let x1 = i;
      let x2 = s;
      let x3 = 0;
      let a = k0;
      let b = k1;
      for (let round = 0; round < 10; round++) {
        if (round > 0) {
          a = (a + W0) >>> 0;
          b = (b + W1) >>> 0;
        }
        const lo0 = Math.imul(M0, x0) >>> 0;
        const hi0 = ((M0 * x0 - lo0) * INV_TWO_POW_32 + 0.5) >>> 0;
        const lo1 = Math.imul(M1, x2) >>> 0;
        const hi1 = ((M1 * x2 - lo1) * INV_TWO_POW_32 + 0.5) >>> 0;
        x0 = (hi1 ^ x1 ^ a) >>> 0;
        x1 = lo1;
        x2 = (hi0 ^ x3 ^ b) >>> 0;
        x3 = lo0;
      }
      // Box-Muller on (x0, x1) and (x2, x3).
      const o = row + 4 * blk;
      const r0 = Math.sqrt(-2 * Math.log((x0 + 0.5) * INV_TWO_POW_32));
      const t0 = x1 * TWO_PI_INV_TWO_POW_32;
      out[o] = r0 * Math.cos(t0);
      if (n > 1) out[o + 1] = r0 * Math.sin(t0);
      if (n > 2) {
        const r1 = Math.sqrt(-2 * Math.log((x2 + 0.5) * INV_TWO_POW_32));
        const t1 = x3 * TWO_PI_INV_TWO_POW_32;
        out[o + 2] = r1 * Math.cos(t1);
        if (n > 3) out[o + 3] = r1 * Math.sin(t1);
      }
    }
  }
}
