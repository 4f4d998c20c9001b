import type { OptionRef, RoutingReport, RunnerUp, StageReport } from "./certificate.js";
import type { CertifyResult } from "./certify.js";
import { normalQuantile, upperConfidenceBound } from "./stats.js";

/*
 * Set-valued routing (docs/routing.md). Single routing claims min(R_sigma, R_c): beyond R_sigma the
 * estimator might route elsewhere. Set routing bounds which options it can route to within r and
 * certifies those too, with fresh draws; where they all predict the routed classifier's class with
 * radius >= r, the prediction holds within r whatever the routing.
 */

/** How set routing splits the classifier's alpha_c, fixed from the parameters and manifest alone. */
export interface RoutingAlphas {
  /** The routed option's classifier stage. */
  top: number;
  /** Each estimator class other than the top one: the upper bound on its probability. */
  upper: number;
  /** Each rank of runner-up option that may be certified. */
  rank: number;
}

/**
 * alpha_c / 2 to the routed classifier, alpha_c / 4 over the upper bounds of the estimator's other
 * classes, alpha_c / 4 over the ranks of runner-up options. Nothing here depends on a draw, so the
 * union bound adds up to alpha_c whichever options the draws pick. With no other option to route
 * to, all of alpha_c stays with the routed classifier, as in single routing.
 */
export function routingAlphas(alphaC: number, estimatorClasses: number, options: number): RoutingAlphas {
  const others = options - 1;
  if (others < 1 || estimatorClasses < 2) return { top: alphaC, upper: 0, rank: 0 };
  return { top: alphaC / 2, upper: alphaC / 4 / (estimatorClasses - 1), rank: alphaC / 4 / others };
}

/**
 * The radius within which class k cannot overtake the top class of a classifier smoothed at sigma:
 * sigma / 2 (PhiInv(pTopLower) - PhiInv(pkUpper)) (Cohen et al. 2019, Theorem 1, two-class form:
 * p_top falls no faster than Phi(PhiInv(pTopLower) - |d| / sigma), p_k rises no faster than
 * Phi(PhiInv(pkUpper) + |d| / sigma)). Infinite when pkUpper is 0; 0 when the bounds cross.
 */
export function overtakeRadius(sigma: number, pTopLower: number, pkUpper: number): number {
  if (pkUpper <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(0, (sigma / 2) * (normalQuantile(pTopLower) - normalQuantile(pkUpper)));
}

/**
 * The options other than `routed` the estimator could route to, with the radius within which each
 * cannot overtake the top class (the least over the estimator classes routing to it), nearest
 * first. pk_upper is the Clopper-Pearson bound at `alphaUpper` (over the stage's looks, as its
 * lower bound), capped by 1 - pTop_lower, which holds whenever the lower bound does.
 */
export function runnerUps(
  estimator: CertifyResult,
  routes: readonly number[],
  routed: number,
  alphaUpper: number,
  optionRef: (index: number) => OptionRef,
): RunnerUp[] {
  const perLook = alphaUpper / (estimator.looks?.length ?? 1);
  const best = new Map<number, RunnerUp>();
  routes.forEach((option, k) => {
    if (k === estimator.top || option === routed) return;
    const bound = upperConfidenceBound(estimator.counts[k] ?? 0, estimator.n, perLook);
    const pUpper = Math.min(bound, 1 - estimator.pALower);
    const overtake = overtakeRadius(estimator.sigma, estimator.pALower, pUpper);
    const seen = best.get(option);
    if (!seen || overtake < seen.overtake) best.set(option, { option: optionRef(option), pUpper, overtake });
  });
  return [...best.values()].sort((a, b) => a.overtake - b.overtake || a.option.index - b.option.index);
}

/**
 * Certifies runner-ups in rank order while they can raise the radius, and returns the set radius:
 * the largest over j of min(R_top, R_1 .. R_j, overtake_{j+1}), where runner-ups 1 .. j all predict
 * the routed class. Within each such radius the estimator routes only to the routed option or to
 * one of runner-ups 1 .. j; every j holds on the same event (all bounds valid), so the largest
 * does. `until` is the radius past which nothing is wanted (R_top, or a target R_top reaches).
 */
export async function certifyRunnerUps(
  routedClass: number,
  routedRadius: number,
  until: number,
  candidates: readonly RunnerUp[],
  certifyRank: (option: number, rank: number) => Promise<CertifyResult>,
): Promise<{ radius: number; certified: RoutingReport["certified"] }> {
  const certified: RoutingReport["certified"] = [];
  // min(R_top, R_1 .. R_j) over the runner-ups certified so far.
  let held = routedRadius;
  let best = 0;
  for (const [i, candidate] of candidates.entries()) {
    best = Math.max(best, Math.min(held, candidate.overtake));
    // Nothing more is wanted, or no runner-up can now raise the radius past min(R_top, R_1 .. R_j).
    if (best >= until || held <= best) return { radius: best, certified };
    const result = await certifyRank(candidate.option.index, i + 1);
    const stage: StageReport = { ...result, option: candidate.option };
    certified.push({ ...stage, overtake: candidate.overtake, rank: i + 1 });
    if (result.abstained || result.top !== routedClass) return { radius: best, certified };
    held = Math.min(held, result.radius);
  }
  return { radius: Math.max(best, held), certified };
}
