import betaQuantile from "@stdlib/stats-base-dists-beta-quantile";
import binomialCdf from "@stdlib/stats-base-dists-binomial-cdf";
import normalQuantileFn from "@stdlib/stats-base-dists-normal-quantile";

/**
 * One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion after nA successes in
 * n trials: the Beta(alpha; nA, n - nA + 1) quantile (Clopper and Pearson 1934). This is the bound
 * of CERTIFY in Cohen et al. 2019, who take the lower end of a two-sided 1 - 2 alpha interval.
 */
export function lowerConfidenceBound(nA: number, n: number, alpha: number): number {
  if (nA === 0) return 0;
  return betaQuantile(alpha, nA, n - nA + 1);
}

/** The standard normal quantile PhiInv(p). */
export function normalQuantile(p: number): number {
  return normalQuantileFn(p, 0, 1);
}

/**
 * Two-sided exact binomial test of nA successes in nA + nB trials against p = 1/2, as in PREDICT
 * (Cohen et al. 2019). For p = 1/2 the distribution is symmetric, so the p-value is
 * min(1, 2 P(X <= min(nA, nB))); computing it from the CDF keeps the far tails exact, where summing
 * point probabilities of a generic two-sided test loses a factor of two.
 */
export function binomialTestHalf(nA: number, nB: number): number {
  const n = nA + nB;
  if (n === 0) return 1;
  return Math.min(1, 2 * binomialCdf(Math.min(nA, nB), n, 0.5));
}

/**
 * One-sided (1 - alpha) Clopper-Pearson upper bound: the Beta(1 - alpha; nA + 1, n - nA) quantile;
 * 1 when every trial succeeded.
 */
export function upperConfidenceBound(nA: number, n: number, alpha: number): number {
  if (nA >= n) return 1;
  return betaQuantile(1 - alpha, nA + 1, n - nA);
}
