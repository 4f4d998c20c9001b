/**
 * The graph-noise model's inputs for a batch of draws, as typed arrays with dims: onnxruntime's
 * Tensor(data, dims) infers float32, int32 and uint32 from them.
 */
import type { DrawBatch } from "../../core/model.js";
import { NOISE, NOISE_SQUARES, type NoiseVersion, seedKey } from "../../core/noise.js";
import { squaresKey } from "../../core/squares.js";
import { GRAPH_INPUTS } from "./models.js";

export interface Feed {
  readonly data: Float32Array | Int32Array | Uint32Array | BigInt64Array;
  readonly dims: readonly number[];
}

/** The graph-noise model's input names (all of GRAPH_INPUTS but the composed chain's batch). */
export type NoisyInput = Exclude<keyof typeof GRAPH_INPUTS, "batch">;

export function noisyFeeds(batch: DrawBatch, version: NoiseVersion = NOISE): Record<NoisyInput, Feed> {
  const [k0, k1] = version === NOISE_SQUARES ? squaresKey(batch.seed, batch.stream) : seedKey(batch.seed);
  for (const [name, v] of [
    ["stream", batch.stream],
    ["first", batch.first],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32)
      throw new RangeError(`${name} must be a uint32, got ${v}`);
  }
  if (
    !Number.isInteger(batch.count) ||
    batch.count < 1 ||
    batch.count >= 2 ** 31 ||
    batch.first + batch.count > 2 ** 32
  ) {
    throw new RangeError(`count must be in [1, 2^31) with first + count <= 2^32, got ${batch.count}`);
  }
  // Keys equal their GRAPH_INPUTS names.
  return {
    [GRAPH_INPUTS.x]: { data: batch.x, dims: [batch.x.length] },
    [GRAPH_INPUTS.sigma]: { data: Float32Array.of(batch.sigma), dims: [1] },
    [GRAPH_INPUTS.key]: { data: Uint32Array.of(k0, k1), dims: [2] },
    [GRAPH_INPUTS.stream]: { data: Uint32Array.of(batch.stream), dims: [1] },
    [GRAPH_INPUTS.first]: { data: Uint32Array.of(batch.first), dims: [1] },
    [GRAPH_INPUTS.count]: { data: Int32Array.of(batch.count), dims: [] },
  };
}
