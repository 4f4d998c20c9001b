/** The manifest's per-channel normalization as graph nodes, between the noise and the first model. */
import { DT, type GraphBuilder, GraphError } from "./proto.js";

/** mean and std have one value per channel, the first axis of the input shape. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/**
 * (batch - mean[c]) / std[c] over channel axis 1 of `batch` [N, ...inputShape], as torchvision's
 * Normalize; returns the tensor to feed the chain (`batch` itself when there is no normalization).
 */
export function emitPreprocess(
  g: GraphBuilder,
  batch: string,
  inputShape: readonly number[],
  pre: Normalization | undefined,
): string {
  if (!pre) return batch;
  const channels = inputShape[0];
  if (pre.mean.length !== channels || pre.std.length !== channels) {
    throw new GraphError(`normalization needs ${channels} means and stds, one per channel (shape[0])`);
  }
  // [C, 1, ..., 1] broadcasts against [N, C, ...] from the right.
  const dims = [pre.mean.length, ...inputShape.slice(1).map(() => 1)];
  const mean = g.constant("mean", DT.FLOAT, dims, Float32Array.from(pre.mean));
  const std = g.constant("std", DT.FLOAT, dims, Float32Array.from(pre.std));
  return g.op("Div", [g.op("Sub", [batch, mean]), std]);
}
