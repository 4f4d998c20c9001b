import type { NoisyClassifier } from "./model.js";
import type { SampleHooks } from "./sampler.js";
import { sampleCounts } from "./sampler.js";
import { binomialTestHalf } from "./stats.js";
import { type Stage, streamOf } from "./streams.js";

export interface PredictSpec {
  sigma: number;
  n: number;
  alpha: number;
  batchSize: number;
  seed: number;
  stage: Stage;
}

export interface PredictResult {
  sigma: number;
  n: number;
  alpha: number;
  counts: number[];
  /** The most frequent class, or null when the test cannot tell the top two apart at level alpha. */
  prediction: number | null;
  /** The two most frequent classes and their counts. */
  top: [number, number];
  nA: number;
  nB: number;
  pValue: number;
}

/**
 * PREDICT (Cohen, Rosenfeld, Kolter 2019): count classes over n draws and return the top class
 * unless a two-sided exact binomial test of the top two counts has p-value above alpha; then g(x) is
 * returned wrongly with probability at most alpha (Theorem 2).
 */
export async function predict(
  model: NoisyClassifier,
  x: Float32Array,
  spec: PredictSpec,
  hooks: SampleHooks = {},
): Promise<PredictResult> {
  const counts = Array.from(
    await sampleCounts(
      model,
      {
        x,
        sigma: spec.sigma,
        seed: spec.seed,
        batchSize: spec.batchSize,
        num: spec.n,
        stream: streamOf(spec.stage, "prediction"),
      },
      hooks,
    ),
  );
  const [a, b] = topTwo(counts);
  const nA = counts[a] ?? 0;
  const nB = counts[b] ?? 0;
  const pValue = binomialTestHalf(nA, nB);
  return {
    sigma: spec.sigma,
    n: spec.n,
    alpha: spec.alpha,
    counts,
    prediction: pValue > spec.alpha ? null : a,
    top: [a, b],
    nA,
    nB,
    pValue,
  };
}

/** Indices of the two largest counts, larger first; ties go to the lower index. */
function topTwo(counts: number[]): [number, number] {
  const order = counts.map((_, i) => i).sort((i, j) => (counts[j] ?? 0) - (counts[i] ?? 0) || i - j);
  return [order[0] ?? 0, order[1] ?? 1];
}
