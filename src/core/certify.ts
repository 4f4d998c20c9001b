import type { NoisyClassifier } from "./model.js";
import { argmax, type SampleHooks, sampleCounts } from "./sampler.js";
import { lowerConfidenceBound, normalQuantile } from "./stats.js";
import { type Stage, streamOf } from "./streams.js";

export interface CertifySpec {
  sigma: number;
  n0: number;
  n: number;
  alpha: number;
  batchSize: number;
  seed: number;
  /** Which noise streams to draw from (each stage of a dual certificate has its own). */
  stage: Stage;
}

export interface CertifyResult {
  sigma: number;
  n0: number;
  n: number;
  alpha: number;
  /** Class counts of the n0 selection draws; their argmax is the candidate class cA. */
  selectionCounts: number[];
  /** Class counts of the n estimation draws. */
  counts: number[];
  /** The candidate class cA. */
  top: number;
  /** Draws of the estimation phase that predicted cA. */
  nA: number;
  /** One-sided (1 - alpha) lower confidence bound on P(f(x + eps) = cA). */
  pALower: number;
  abstained: boolean;
  /** sigma * PhiInv(pALower) (Cohen et al. 2019, Theorem 1); 0 when abstaining. */
  radius: number;
}

/**
 * CERTIFY (Cohen, Rosenfeld, Kolter 2019, Algorithm "certify"): pick cA from n0 selection draws,
 * count it over n fresh draws, and certify the L2 radius sigma * PhiInv(pA_lower) unless
 * pA_lower < 1/2. With probability at least 1 - alpha the smoothed classifier g returns cA at x and
 * at every point within the radius.
 */
export async function certify(
  model: NoisyClassifier,
  x: Float32Array,
  spec: CertifySpec,
  hooks: SampleHooks = {},
): Promise<CertifyResult> {
  const draws = { x, sigma: spec.sigma, seed: spec.seed, batchSize: spec.batchSize };
  const selection = await sampleCounts(
    model,
    { ...draws, stream: streamOf(spec.stage, "selection"), num: spec.n0 },
    hooks,
  );
  const top = argmax(selection);
  const onBatch = hooks.onBatch;
  const estimation = await sampleCounts(
    model,
    { ...draws, stream: streamOf(spec.stage, "estimation"), num: spec.n },
    { signal: hooks.signal, onBatch: onBatch && ((done) => onBatch(spec.n0 + done)) },
  );
  const nA = estimation[top] ?? 0;
  const pALower = lowerConfidenceBound(nA, spec.n, spec.alpha);
  const abstained = pALower < 0.5;
  return {
    sigma: spec.sigma,
    n0: spec.n0,
    n: spec.n,
    alpha: spec.alpha,
    selectionCounts: Array.from(selection),
    counts: Array.from(estimation),
    top,
    nA,
    pALower,
    abstained,
    radius: abstained ? 0 : spec.sigma * normalQuantile(pALower),
  };
}
