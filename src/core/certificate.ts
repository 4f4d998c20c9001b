import type { CertifyResult } from "./certify.js";
import type { NoiseVersion } from "./noise.js";

/** A classifier option: a sigma and the base model smoothed with it. */
export interface OptionRef {
  index: number;
  sigma: number;
  name?: string;
}

/** One certified stage: CERTIFY's counts and bound, the share of alpha it spent, and its option. */
export interface StageReport extends CertifyResult {
  /** The classifier option: used by the classifier stage, or chosen by the estimator stage. */
  option: OptionRef | null;
}

/** An option other than the routed one that the estimator could route to (docs/routing.md). */
export interface RunnerUp {
  option: OptionRef;
  /** Upper bound on the estimator's probability of the option's class (the least over its classes). */
  pUpper: number;
  /** The L2 radius within which the estimator cannot route to this option: sigma_e / 2 (PhiInv(pTop_lower) - PhiInv(pUpper)). */
  overtake: number;
}

/** What set routing ran: the bounds on the other options and the runner-ups certified with fresh draws. */
export interface RoutingReport {
  /** min(R_sigma, R_c) of this certificate's two stages: the radius single routing claims from them. */
  singleRadius: number;
  /** The split of alpha_c: routed classifier, each estimator upper bound, each runner-up rank. */
  alphas: { top: number; upper: number; rank: number };
  /** Every option the estimator could route to besides the routed one, nearest first. */
  runnerUps: RunnerUp[];
  /** The runner-ups certified, in rank order, each on its own fresh noise streams. */
  certified: (StageReport & { overtake: number; rank: number })[];
}

export type AbstainReason = "estimator" | "classifier";

/** A certificate: reproducible from its seed, parameters, input and model digests. */
export interface Certificate {
  certifier: string;
  mode: "dual" | "global";
  /** The smoothed classifier's class, or null when it abstains. */
  prediction: { index: number; label: string } | null;
  abstained: boolean;
  abstainReason: AbstainReason | null;
  /**
   * Certified L2 radius: min(R_sigma, R_c) in dual mode (Sun, Mao, Vechev 2026, Theorem 4.2); with
   * set routing, possibly past R_sigma where the options the estimator could route to agree.
   */
  radius: number;
  /** The estimator abstained and the configured fallback option was used: radius 0. */
  fallback: boolean;
  /** Probability that the certificate is wrong, at most the sum of the stages' shares. */
  alpha: number;
  seed: number;
  parameters: {
    n0: number;
    n: number;
    alpha: number;
    alphaSplit: number | null;
    sigma: number | null;
    /** Dual mode: the option used when the estimator abstains (null: abstain). */
    fallback: number | null;
    /** fixed: n estimation draws per stage; sequential: looks that may stop early (docs/sequential.md). */
    sampling: "fixed" | "sequential";
    targetRadius: number | null;
    /** Dual mode: single (min(R_sigma, R_c)) or set (docs/routing.md); null in global mode. */
    routing: "single" | "set" | null;
  };
  /** With a target radius: radius >= targetRadius; null without one. */
  certifiedAtTarget: boolean | null;
  stages: { estimator: StageReport | null; classifier: StageReport | null };
  /** Set routing's bounds and extra stages; null with single routing or in global mode. */
  routing: RoutingReport | null;
  /** sha256 of each model file the certificate depends on. */
  models: Record<string, string>;
  /** The noise generator every draw came from (src/core/noise.ts). */
  noise: NoiseVersion;
}
