/**
 * Philox4x32-10 (Salmon et al. 2011; Random123 philox.h) as ONNX integer ops on uint32 tensors, the
 * same function as philox4x32 in src/core/noise.ts. mulhi: Cast to uint64, Mul, BitShift right 32,
 * Cast back; low words: uint32 Mul, which wraps. XOR needs BitwiseXor (opset 18).
 *
 * Counter words broadcast against each other (a block index [B], a draw index [count, 1], scalars
 * [1]); the first rounds then run on the smaller shapes, as the words only mix into full [count, B]
 * tensors from round 2 on.
 */
import { attr, DT, type GraphBuilder } from "./proto.js";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * A uint32 tensor, or null for a known zero word. `axes` is a bit set of the broadcast axes it spans
 * (callers choose the bits, e.g. 1 = draws, 2 = blocks; 0 = a [1] tensor); it orders XOR operands.
 */
export interface Word {
  readonly name: string | null;
  readonly axes: number;
}

export const word = (name: string, axes: number): Word => ({ name, axes });

export const ZERO: Word = { name: null, axes: 0 };

const spread = (axes: number): number => {
  let n = 0;
  for (let a = axes; a; a &= a - 1) n++;
  return n;
};

function xor(g: GraphBuilder, a: Word, b: Word): Word {
  if (a.name === null) return b;
  if (b.name === null) return a;
  return { name: g.op("BitwiseXor", [a.name, b.name]), axes: a.axes | b.axes };
}

/** a ^ b ^ key, XOR-ing the key into the narrower operand first so that fewer elements are touched. */
function xor3(g: GraphBuilder, a: Word, b: Word, key: Word): Word {
  return spread(a.axes) <= spread(b.axes) ? xor(g, xor(g, a, key), b) : xor(g, xor(g, b, key), a);
}

interface Multiplier {
  readonly m64: string;
  readonly m32: string;
  readonly shift: string;
}

/** (hi, lo) 32-bit words of m * x. */
function mulhilo(g: GraphBuilder, x: Word, m: Multiplier): [Word, Word] {
  if (x.name === null) return [ZERO, ZERO];
  const product = g.op("Mul", [g.cast(x.name, DT.UINT64), m.m64]);
  const shifted = g.op("BitShift", [product, m.shift], [attr.string("direction", "RIGHT")]);
  return [
    { name: g.cast(shifted, DT.UINT32), axes: x.axes },
    { name: g.op("Mul", [x.name, m.m32]), axes: x.axes },
  ];
}

/**
 * Emits Philox4x32-10 of counter (c0..c3) under key (k0, k1), uint32 [1] tensors; returns the 4
 * output words.
 */
export function emitPhilox(
  g: GraphBuilder,
  counter: readonly [Word, Word, Word, Word],
  k0: string,
  k1: string,
): [Word, Word, Word, Word] {
  const shift = g.u64([32]);
  const mul0: Multiplier = { m64: g.u64([M0]), m32: g.u32([M0]), shift };
  const mul1: Multiplier = { m64: g.u64([M1]), m32: g.u32([M1]), shift };
  let [x0, x1, x2, x3] = counter;
  for (let round = 0; round < 10; round++) {
    // Round keys: k + round * W (mod 2^32), on [1] tensors.
    const a = round === 0 ? k0 : g.op("Add", [k0, g.u32([(round * W0) % 2 ** 32])]);
    const b = round === 0 ? k1 : g.op("Add", [k1, g.u32([(round * W1) % 2 ** 32])]);
    const [hi0, lo0] = mulhilo(g, x0, mul0);
    const [hi1, lo1] = mulhilo(g, x2, mul1);
    const n0 = xor3(g, hi1, x1, word(a, 0));
    const n2 = xor3(g, hi0, x3, word(b, 0));
    x0 = n0;
    x1 = lo1;
    x2 = n2;
    x3 = lo0;
  }
  return [x0, x1, x2, x3];
}
