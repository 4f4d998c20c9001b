import type { Certificate } from "../core/certificate.js";

/** One certified input, as one line of the per-input TSV. */
export interface EvalRow {
  /** Index of the image in its split. */
  idx: number;
  label: number;
  /** The smoothed classifier's class; -1 when it abstains (Cohen et al.'s certify.py). */
  predict: number;
  /** Certified L2 radius; 0 when abstaining. */
  radius: number;
  correct: boolean;
  /** Wall-clock seconds for this input. */
  time: number;
  /** Dual mode only: the two stages' radii and the routing. */
  dual?: DualColumns | undefined;
}

export interface DualColumns {
  /** sigma_c(x) of the chosen option; null when the estimator abstained without a fallback. */
  sigma: number | null;
  /** R_sigma: the estimator's radius. */
  rSigma: number;
  /** R_c: the classifier's radius at sigma_c(x). */
  rC: number;
  fallback: boolean;
  /** Set routing only: min(R_sigma, R_c), the radius single routing claims from the two stages. */
  rSingle?: number | undefined;
  /** Set routing only: draws of the runner-ups certified (0 where R_sigma did not cap). */
  extraDraws?: number | undefined;
}

/** The row of a certificate for image `idx` with true label `label`. */
export function rowOf(cert: Certificate, idx: number, label: number, time: number): EvalRow {
  const predict = cert.prediction?.index ?? -1;
  const row: EvalRow = {
    idx,
    label,
    predict,
    radius: cert.abstained ? 0 : cert.radius,
    correct: !cert.abstained && predict === label,
    time,
  };
  if (cert.mode !== "dual") return row;
  const { estimator, classifier } = cert.stages;
  const option = classifier?.option ?? estimator?.option ?? null;
  row.dual = {
    sigma: option?.sigma ?? null,
    rSigma: estimator?.radius ?? 0,
    rC: classifier?.radius ?? 0,
    fallback: cert.fallback,
    ...(cert.routing && {
      rSingle: cert.routing.singleRadius,
      extraDraws: runnerUpDraws(cert),
    }),
  };
  return row;
}

/** Noisy draws an input took, from its row: n0 + n for each stage that the row shows ran. */
export function drawsOf(row: EvalRow, parameters: { n0: number; n: number }): number {
  // The classifier stage ran wherever an option was chosen, by the estimator or as its fallback.
  const stages = row.dual ? (row.dual.sigma === null ? 1 : 2) : 1;
  return stages * (parameters.n0 + parameters.n) + (row.dual?.extraDraws ?? 0);
}

/** Noisy draws a certificate took: each stage's n0 plus the estimation draws it counted. */
export function certificateDraws(cert: Certificate): number {
  const { estimator, classifier } = cert.stages;
  return (estimator?.draws ?? 0) + (classifier?.draws ?? 0) + runnerUpDraws(cert);
}

/** Draws of the runner-ups set routing certified; 0 without set routing. */
function runnerUpDraws(cert: Certificate): number {
  return cert.routing?.certified.reduce((sum, s) => sum + s.draws, 0) ?? 0;
}
