import type { NoisyClassifier } from "./model.js";
import { argmax, type SampleHooks, sampleCounts } from "./sampler.js";
import { lowerConfidenceBound, normalQuantile, upperConfidenceBound } from "./stats.js";
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
  /**
   * Sequential sampling (docs/sequential.md): called with cA once the selection draws are counted,
   * before any estimation draw. Absent: one look at n, Cohen et al.'s fixed n.
   */
  plan?: ((top: number) => SequentialPlan | Promise<SequentialPlan>) | undefined;
}

/** How a sequential stage takes its estimation draws. */
export interface SequentialPlan {
  /** Cumulative estimation counts ending at n; each look's bound is at alpha / looks.length. */
  looks: readonly number[];
  /** Stop at the first look whose radius reaches this: more draws would not be used. */
  stopAt?: number | undefined;
  /** Also stop at the first look from which the radius can no longer reach this target. */
  target?: number | undefined;
}

export interface CertifyResult {
  sigma: number;
  n0: number;
  n: number;
  alpha: number;
  /** Class counts of the n0 selection draws; their argmax is the candidate class cA. */
  selectionCounts: number[];
  /** Class counts of the n estimation draws (fewer than asked when a sequential stage stopped). */
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
  /** Noisy draws this stage took: n0 + n. */
  draws: number;
  /** The sequential schedule (pALower is at alpha / looks.length); null: fixed n. */
  looks: number[] | null;
}

/**
 * CERTIFY (Cohen, Rosenfeld, Kolter 2019, Algorithm "certify"): pick cA from n0 selection draws,
 * count it over n fresh draws, and certify the L2 radius sigma * PhiInv(pA_lower) unless
 * pA_lower < 1/2. With probability at least 1 - alpha the smoothed classifier g returns cA at x and
 * at every point within the radius. With a `plan`, the n draws come in looks on a schedule fixed
 * before the first of them, each bounded at alpha / looks.length, and the stage may stop at a look
 * (docs/sequential.md).
 */
export async function certify(
  model: NoisyClassifier,
  x: Float32Array,
  spec: CertifySpec,
  hooks: SampleHooks = {},
): Promise<CertifyResult> {
  const draws = { x, sigma: spec.sigma, seed: spec.seed, batchSize: spec.batchSize };
  const estimationStream = streamOf(spec.stage, "estimation");
  // The estimation's first batch follows the selection whatever cA turns out to be.
  const then = { stream: estimationStream, first: 0, count: Math.min(spec.batchSize, spec.n) };
  const selection = await sampleCounts(
    model,
    { ...draws, stream: streamOf(spec.stage, "selection"), num: spec.n0, then },
    hooks,
  );
  const top = argmax(selection);
  const onBatch = hooks.onBatch;
  const plan = spec.plan && (await spec.plan(top));
  const looks = plan?.looks ?? [spec.n];
  // Bonferroni over the looks; one look spends all of alpha, exactly as fixed n.
  const lookAlpha = spec.alpha / looks.length;
  const estimation = new Uint32Array(model.classes);
  let n = 0;
  let pALower = 0;
  for (const look of looks) {
    const base = n;
    // Draws base .. look - 1: the same draws fixed n takes, however the looks split them.
    const counts = await sampleCounts(
      model,
      { ...draws, stream: estimationStream, num: look - base, from: base },
      { signal: hooks.signal, onBatch: onBatch && ((done) => onBatch(spec.n0 + base + done)) },
    );
    for (let c = 0; c < estimation.length; c++) estimation[c] = (estimation[c] ?? 0) + (counts[c] ?? 0);
    n = look;
    const nA = estimation[top] ?? 0;
    pALower = lowerConfidenceBound(nA, n, lookAlpha);
    if (n >= spec.n) break;
    if (plan?.stopAt !== undefined && radiusOf(spec.sigma, pALower) >= plan.stopAt) break;
    if (plan?.target !== undefined && cannotReach(spec, nA, n, lookAlpha, plan.target)) break;
  }
  const nA = estimation[top] ?? 0;
  const abstained = pALower < 0.5;
  return {
    sigma: spec.sigma,
    n0: spec.n0,
    n,
    alpha: spec.alpha,
    selectionCounts: Array.from(selection),
    counts: Array.from(estimation),
    top,
    nA,
    pALower,
    abstained,
    radius: radiusOf(spec.sigma, pALower),
    draws: spec.n0 + n,
    looks: plan ? [...looks] : null,
  };
}

/** sigma PhiInv(pALower) (Cohen et al. 2019, Theorem 1); 0 below one half, where CERTIFY abstains. */
function radiusOf(sigma: number, pALower: number): number {
  return pALower < 0.5 ? 0 : sigma * normalQuantile(pALower);
}

/**
 * The target is out of reach when even every remaining draw predicting cA leaves the last look's
 * radius below it, or when the (1 - lookAlpha) upper bound on pA puts the radius below it. A
 * stage that stops here claims nothing, so any rule would be sound; these two rarely stop a
 * stage that would have reached the target.
 */
function cannotReach(spec: CertifySpec, nA: number, n: number, lookAlpha: number, target: number): boolean {
  const best = lowerConfidenceBound(nA + spec.n - n, spec.n, lookAlpha);
  if (radiusOf(spec.sigma, best) < target) return true;
  return spec.sigma * normalQuantile(upperConfidenceBound(nA, n, lookAlpha)) < target;
}
