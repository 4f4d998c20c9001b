/**
 * The noise "squares32/box-muller": Widynski's Squares counter-based generator (B. Widynski, "Squares:
 * A Fast Counter-Based RNG", arXiv:2004.06278, 2020), whose four rounds x = x * x + y, then a swap of
 * the 64-bit word's halves, need nothing but multiplications and additions. onnxruntime's GPU
 * providers have no bitwise kernels, which Philox needs for its XORs: this noise is made wholly on
 * the device (src/runtime/graph/squares.ts builds it from uint32 operators).
 *
 * Layout. The key K of (seed, stream) is splitmix64(splitmix64(seed) + stream) with its low bit set
 * (Squares wants an odd, irregular key; splitmix64 is Steele, Lea and Flood's finalizer, 2014).
 * Element j of draw i takes pair p = j >> 1, whose words are
 *   wa = squares32(i 2^32 + 2p, K), wb = squares32(i 2^32 + 2p + 1, K),
 * and, in float32, u1 = f32(f32(wa) + 0.5) 2^-32, t = f32(f32(wb) f32(2 pi 2^-32)), r = sqrt(-2 ln u1);
 * element 2p is r cos t and element 2p + 1 is r sin t (Box-Muller). Words below 2^24 are exact in
 * float32, so the smallest u1 is 2^-33 and the tail reaches sqrt(66 ln 2) ~ 6.8 as Philox's does.
 */
import { mulhi32, seedKey } from "./noise.js";

const MASK64 = (1n << 64n) - 1n;

/** Steele, Lea and Flood's SplitMix64 output function of state z (z + golden gamma, then mixed). */
function splitmix64(z: bigint): bigint {
  let x = (z + 0x9e3779b97f4a7c15n) & MASK64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return x ^ (x >> 31n);
}

/** The Squares key of (seed, stream) as [low, high] uint32 words. */
export function squaresKey(seed: number, stream: number): [lo: number, hi: number] {
  seedKey(seed); // validates the seed
  const k = splitmix64((splitmix64(BigInt(seed)) + BigInt(stream >>> 0)) & MASK64) | 1n;
  return [Number(k & 0xffffffffn), Number(k >> 32n)];
}

/**
 * squares32 of counter (ch 2^32 + cl) under key (kh 2^32 + kl), with the 64-bit words held as uint32
 * pairs: x * x mod 2^64 = (mulhi(xl, xl) + 2 xh xl) 2^32 + lo(xl xl).
 */
export function squares32(ch: number, cl: number, kl: number, kh: number): number {
  // y = x = ctr * key (mod 2^64); z = y + key.
  const yl = Math.imul(cl, kl) >>> 0;
  const yh = (mulhi32(cl, kl) + Math.imul(cl, kh) + Math.imul(ch, kl)) >>> 0;
  const zl = (yl + kl) >>> 0;
  const zh = (yh + kh + (zl < yl ? 1 : 0)) >>> 0;
  let xh = yh;
  let xl = yl;
  for (let round = 0; round < 3; round++) {
    // x = x * x + (round 1 ? z : y), then swap the halves.
    const ah = round === 1 ? zh : yh;
    const al = round === 1 ? zl : yl;
    const lo = (Math.imul(xl, xl) >>> 0) + al;
    const hi = mulhi32(xl, xl) + (Math.imul(xh, xl) << 1) + ah + (lo >= 2 ** 32 ? 1 : 0);
    xh = lo >>> 0;
    xl = hi >>> 0;
  }
  // (x * x + z) >> 32.
  const lo = (Math.imul(xl, xl) >>> 0) + zl;
  return (mulhi32(xl, xl) + (Math.imul(xh, xl) << 1) + zh + (lo >= 2 ** 32 ? 1 : 0)) >>> 0;
}

const TWO_PI_INV_TWO_POW_32_F32 = Math.fround(2 * Math.PI * 2 ** -32);

/** fillGaussian's squares32 version (see noise.ts for the arguments, checked there). */
export function fillSquaresGaussian(
  out: Float32Array,
  dim: number,
  seed: number,
  stream: number,
  first: number,
  count: number,
): void {
  const [kl, kh] = squaresKey(seed, stream);
  for (let k = 0; k < count; k++) {
    const i = first + k;
    const row = k * dim;
    for (let j = 0; j < dim; j += 2) {
      const wa = squares32(i, j, kl, kh);
      const wb = squares32(i, j + 1, kl, kh);
      const r = Math.sqrt(-2 * Math.log(Math.fround(Math.fround(wa) + 0.5) * 2 ** -32));
      const t = Math.fround(Math.fround(wb) * TWO_PI_INV_TWO_POW_32_F32);
      out[row + j] = r * Math.cos(t);
      if (j + 1 < dim) out[row + j + 1] = r * Math.sin(t);
    }
  }
}
