import type { NoiseVersion } from "../../core/noise.js";

/** What the noise thread is asked: the noisy inputs of the draws, into `buffer` if it is large enough. */
export interface NoiseRequest {
  id: number;
  x: Float32Array;
  sigma: number;
  seed: number;
  stream: number;
  first: number;
  count: number;
  version: NoiseVersion;
  /** A buffer given back for reuse, or null. */
  buffer: ArrayBuffer | null;
}

/** Its answer: the inputs (their buffer transferred), or why they could not be made. */
export type NoiseAnswer = { id: number; inputs: Float32Array } | { id: number; error: string };
