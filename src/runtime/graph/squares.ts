/**
 * squares32 (src/core/squares.ts) as ONNX ops, bit for bit, in one of two operator sets:
 * - "cpu": uint64 Mul and Add (which wrap) and BitShift for the swap of halves;
 * - "device": uint32 Add, Sub, Mul, Div, Less and Cast only, which onnxruntime's WebGPU and CUDA
 *   providers run on the device (they have no bitwise kernels, and WebGPU no uint64 arithmetic): a
 *   64-bit word is a pair of uint32 tensors, and mulhi comes from 16-bit halves.
 * Counters broadcast: the draw index [count, 1] against the word index [W], giving words [count, W].
 */
import { attr, DT, type GraphBuilder } from "./proto.js";

/** Graph tensors of one squares32 evaluation. */
export interface SquaresInputs {
  /** uint32 [count, 1]: the counter's high word (the draw index). */
  readonly high: string;
  /** uint32 [W]: the counter's low word (the word index). */
  readonly low: string;
  /** uint32 [1] each: the key's words. */
  readonly keyLow: string;
  readonly keyHigh: string;
}

/** Emits squares32 of every counter; returns the uint32 words [count, W]. */
export function emitSquares(g: GraphBuilder, s: SquaresInputs, device: boolean): string {
  return device ? squaresDevice(g, s) : squaresCpu(g, s);
}

function squaresCpu(g: GraphBuilder, s: SquaresInputs): string {
  const u64 = (x: string) => g.cast(x, DT.UINT64);
  const shift = g.u64([32]);
  const times2to32 = g.u64([2 ** 32]);
  const key = g.op("Add", [u64(s.keyLow), g.op("Mul", [u64(s.keyHigh), times2to32])]);
  const ctr = g.op("Add", [g.op("Mul", [u64(s.high), times2to32]), u64(s.low)]);
  const y = g.op("Mul", [ctr, key]);
  const z = g.op("Add", [y, key]);
  const right = (x: string) => g.op("BitShift", [x, shift], [attr.string("direction", "RIGHT")]);
  const left = (x: string) => g.op("BitShift", [x, shift], [attr.string("direction", "LEFT")]);
  let x = y;
  for (const a of [y, z, y]) {
    const t = g.op("Add", [g.op("Mul", [x, x]), a]);
    x = g.op("Add", [right(t), left(t)]);
  }
  return g.cast(right(g.op("Add", [g.op("Mul", [x, x]), z])), DT.UINT32);
}

/** A 64-bit value as uint32 tensors. */
interface Pair {
  readonly hi: string;
  readonly lo: string;
}

function squaresDevice(g: GraphBuilder, s: SquaresInputs): string {
  const half = g.u32([0x10000]);
  const two = g.u32([2]);
  const add = (a: string, b: string) => g.op("Add", [a, b]);
  const mul = (a: string, b: string) => g.op("Mul", [a, b]);
  const div = (a: string) => g.op("Div", [a, half]);
  /** 16-bit halves of a uint32. */
  const split = (a: string): [string, string] => {
    const h = div(a);
    return [h, g.op("Sub", [a, mul(h, half)])];
  };
  /**
   * High word of a * b: with a = ah 2^16 + al, b = bh 2^16 + bl, t = ah bl + floor(al bl / 2^16),
   * u = al bh + (t mod 2^16), hi = ah bh + floor(t / 2^16) + floor(u / 2^16); every partial sum stays
   * below 2^32 ((2^16 - 1)^2 + 2^16 - 1).
   */
  const mulhi = (a: string, b: string): string => {
    const [ah, al] = split(a);
    const [bh, bl] = a === b ? [ah, al] : split(b);
    const t = add(mul(ah, bl), div(mul(al, bl)));
    const tHi = div(t);
    const u = add(mul(al, bh), g.op("Sub", [t, mul(tHi, half)]));
    return add(add(mul(ah, bh), tHi), div(u));
  };
  /** a + b mod 2^64, the carry from a Less. */
  const add64 = (a: Pair, b: Pair): Pair => {
    const lo = add(a.lo, b.lo);
    const carry = g.cast(g.op("Less", [lo, a.lo]), DT.UINT32);
    return { hi: add(add(a.hi, b.hi), carry), lo };
  };
  /** x * x mod 2^64 = (mulhi(xl, xl) + 2 xh xl) 2^32 + lo(xl xl). */
  const square = (x: Pair): Pair => ({
    hi: add(mulhi(x.lo, x.lo), mul(mul(x.hi, x.lo), two)),
    lo: mul(x.lo, x.lo),
  });
  const key: Pair = { hi: s.keyHigh, lo: s.keyLow };
  // y = ctr * key mod 2^64; the low word's products are [W] vectors, cheap next to [count, W].
  const y: Pair = {
    hi: add(add(mulhi(s.low, key.lo), mul(s.low, key.hi)), mul(s.high, key.lo)),
    lo: mul(s.low, key.lo),
  };
  const z = add64(y, key);
  let x = y;
  for (const a of [y, z, y]) {
    const t = add64(square(x), a);
    x = { hi: t.lo, lo: t.hi };
  }
  return add64(square(x), z).hi;
}
