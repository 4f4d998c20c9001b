import type { DrawBatch } from "../../core/model.js";
import { checkDraws, seedKey } from "../../core/noise.js";
import { GAUSSIAN_WASM } from "./gaussian-wasm.js";

interface GaussianExports {
  readonly memory: WebAssembly.Memory;
  fill(
    out: number,
    x: number,
    dim: number,
    count: number,
    first: number,
    stream: number,
    k0: number,
    k1: number,
    sigma: number,
    scratch: number,
  ): void;
}

/** The module's linear memory: scratch at 0, then x padded to 16 floats, then the rows. */
const SCRATCH = 0;
const X = 1024;
const PAGE = 65536;

let compiled: WebAssembly.Module | undefined;

/**
 * The noise "philox4x32-10/box-muller" made by WebAssembly SIMD (wasm/gaussian.ts): the same bits
 * as core's fillNoisy, four to six times as fast as its JavaScript (docs/benchmarks.md). One
 * instance per thread; it keeps its memory between calls.
 */
export class WasmGaussian {
  readonly #exports: GaussianExports;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(GAUSSIAN_WASM, "base64"));
    this.#exports = new WebAssembly.Instance(compiled, {}).exports as unknown as GaussianExports;
  }

  /** out[k * dim + j] = x[j] + sigma * eps_(first + k)[j] for the draws of b, as fillNoisy writes it. */
  fillNoisy(out: Float32Array, b: DrawBatch): void {
    const dim = b.x.length;
    checkDraws(out, dim, b.stream, b.first, b.count);
    const [k0, k1] = seedKey(b.seed);
    const padded = Math.ceil(dim / 16) * 16;
    const rows = X + padded * 4;
    const size = b.count * dim;
    this.#reserve(rows + (size + 16) * 4);
    const memory = this.#exports.memory.buffer;
    new Float32Array(memory, X, padded).fill(0).set(b.x);
    this.#exports.fill(rows, X, dim, b.count, b.first, b.stream, k0, k1, b.sigma, SCRATCH);
    out.set(new Float32Array(memory, rows, size));
  }

  #reserve(bytes: number): void {
    const memory = this.#exports.memory;
    const have = memory.buffer.byteLength;
    if (have < bytes) memory.grow(Math.ceil((bytes - have) / PAGE));
  }
}
