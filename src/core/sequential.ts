import { lowerConfidenceBound, normalQuantile } from "./stats.js";

/** The smallest first look: fewer draws than this rarely certify anything worth stopping for. */
const FIRST_LOOK = 100;

/**
 * The fixed schedule of looks of a sequential stage with n estimation draws: cumulative counts
 * n_k = ceil(n 2^(k-K)), k = 1..K, with K = floor(log2(n / 100)) + 1, so n_1 >= 100 and n_K = n.
 * Each look's bound is taken at alpha / K (Bonferroni), so the schedule depends only on n, never on
 * the draws or on timing (docs/sequential.md).
 */
export function lookSchedule(n: number): number[] {
  const looks = n < 2 * FIRST_LOOK ? 1 : Math.floor(Math.log2(n / FIRST_LOOK)) + 1;
  return Array.from({ length: looks }, (_, k) => Math.ceil(n * 2 ** (k + 1 - looks)));
}

/**
 * The largest radius a stage can certify with n estimation draws at alpha: sigma PhiInv(alpha^(1/n)),
 * the Clopper-Pearson bound when all n draws agree.
 */
export function radiusCap(sigma: number, n: number, alpha: number): number {
  return sigma * normalQuantile(lowerConfidenceBound(n, n, alpha));
}

/**
 * The looks of `schedule` at which a stage that stops on reaching `radius` could stop at all: where
 * n_k agreeing draws, bounded at alpha / schedule.length, reach it; and the last look. A look that can
 * never stop the stage only spends alpha. Choosing them from the selection draws (which fix cA, and
 * so the radius) keeps the schedule fixed before the first estimation draw.
 */
export function reachableLooks(
  sigma: number,
  schedule: readonly number[],
  alpha: number,
  radius: number,
): number[] {
  const last = schedule.at(-1) ?? 0;
  const a = alpha / schedule.length;
  return schedule.filter((n) => n === last || radiusCap(sigma, n, a) >= radius);
}
