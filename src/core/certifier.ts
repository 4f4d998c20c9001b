import type { Certificate, OptionRef, StageReport } from "./certificate.js";
import { type CertifyResult, type CertifySpec, certify } from "./certify.js";
import { validateInput } from "./input.js";
import { estimatorRoutes, type Manifest } from "./manifest.js";
import type { NoisyClassifier } from "./model.js";
import { NOISE, type NoiseVersion } from "./noise.js";
import { type CertifyParameters, type ResolvedParameters, resolveParameters } from "./parameters.js";
import type { Progress } from "./sampler.js";
import { lookSchedule, radiusCap, reachableLooks } from "./sequential.js";

/** A certifier ready to run: its manifest and a NoisyClassifier per model chain. */
export interface LoadedCertifier {
  readonly manifest: Manifest;
  /** One per manifest option, index-aligned. */
  readonly options: readonly NoisyClassifier[];
  readonly estimator?: NoisyClassifier | undefined;
  /** Model name to the sha256 of its file. */
  readonly digests: Readonly<Record<string, string>>;
  /** The noise its classifiers draw; absent: NOISE. */
  readonly noise?: NoiseVersion | undefined;
}

export interface CertifyHooks {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

/**
 * Certifies one input. Global mode is CERTIFY with one sigma. Dual mode (Sun, Mao, Vechev 2026,
 * Theorems 4.1 and 4.2) first certifies the variance estimator, smoothed with sigma_e, which picks
 * the classifier option (sigma_c(x), model) and cannot change it within R_sigma; then certifies the
 * classifier smoothed with sigma_c(x), radius R_c. The certificate holds within min(R_sigma, R_c),
 * and fails with probability at most alpha_e + alpha_c = alpha (union bound).
 */
export async function certifyInput(
  c: LoadedCertifier,
  input: ArrayLike<number>,
  parameters: CertifyParameters | unknown = {},
  hooks: CertifyHooks = {},
): Promise<Certificate> {
  const m = c.manifest;
  const x = validateInput(m, input);
  const p = resolveParameters(m, parameters);
  const stages = p.mode === "dual" ? 2 : 1;
  const total = stages * (p.n0 + p.n);
  let drawn = 0;
  const target = p.targetRadius ?? undefined;
  const schedule = p.sampling === "sequential" ? lookSchedule(p.n) : undefined;
  // The classifier stage has looks only with a target: without one, no rule could stop it.
  const classifierPlan =
    schedule && target !== undefined ? () => ({ looks: schedule, stopAt: target, target }) : undefined;
  const run = async (
    model: NoisyClassifier,
    sigma: number,
    alpha: number,
    stage: "estimator" | "classifier",
    plan?: CertifySpec["plan"],
  ) => {
    let last = 0;
    const progress = (done: number) => {
      drawn += done - last;
      last = done;
      hooks.onProgress?.({ done: Math.min(drawn, total), total });
    };
    const result = await certify(
      model,
      x,
      { sigma, alpha, stage, n0: p.n0, n: p.n, batchSize: p.batchSize, seed: p.seed, plan },
      { signal: hooks.signal, onBatch: progress },
    );
    // A stage that stopped early skips the draws it did not need.
    if (last < p.n0 + p.n) progress(p.n0 + p.n);
    return result;
  };

  if (p.mode === "global") {
    const option = p.option ?? 0;
    const clf = await run(
      classifierOf(c, option),
      m.options[option]?.sigma ?? 0,
      p.alpha,
      "classifier",
      classifierPlan,
    );
    return finish(c, p, { estimator: null, classifier: report(clf, optionRef(m, option)) }, false, option);
  }

  const estimator = c.estimator;
  const e = m.estimator;
  if (!estimator || !e) throw new Error(`certifier "${m.id}" has no estimator`);
  const alphaE = p.alpha * p.alphaSplit;
  const alphaC = p.alpha - alphaE;
  const routes = estimatorRoutes(m);
  const runClassifier = (option: number) =>
    run(classifierOf(c, option), m.options[option]?.sigma ?? 0, alphaC, "classifier", classifierPlan);
  let early: { option: number; result: CertifyResult } | undefined;
  let estimatorPlan: CertifySpec["plan"];
  if (schedule && target === undefined) {
    // The classifier stage first, on the option the estimator's selection draws route to: R_sigma
    // beyond its R_c cannot raise min(R_sigma, R_c). Its draws are independent of the estimator's.
    estimatorPlan = async (top) => {
      const option = routes[top];
      if (option === undefined) return { looks: [p.n] };
      const result = await runClassifier(option);
      early = { option, result };
      if (result.abstained) return { looks: [p.n] };
      return { looks: reachableLooks(e.sigma, schedule, alphaE, result.radius), stopAt: result.radius };
    };
  } else if (schedule && target !== undefined) {
    // Both stages stop at the target; R_sigma past the largest R_c the routed option can certify
    // (all its draws agreeing, at its looks' alpha) is of no use either.
    estimatorPlan = (top) => {
      const sigmaC = m.options[routes[top] ?? -1]?.sigma;
      const cap =
        sigmaC === undefined ? Number.POSITIVE_INFINITY : radiusCap(sigmaC, p.n, alphaC / schedule.length);
      return { looks: schedule, stopAt: Math.min(cap, target), target };
    };
  }
  const est = await run(estimator, e.sigma, alphaE, "estimator", estimatorPlan);
  const routed = est.abstained ? p.fallback : (routes[est.top] ?? null);
  const estReport = report(est, routed === null ? null : optionRef(m, routed));
  if (routed === null) {
    hooks.onProgress?.({ done: total, total });
    // A classifier stage that already ran is reported: its draws were taken.
    const ran = early && report(early.result, optionRef(m, early.option));
    return finish(c, p, { estimator: estReport, classifier: ran ?? null }, false, early?.option ?? null);
  }
  const clf = early?.option === routed ? early.result : await runClassifier(routed);
  return finish(
    c,
    p,
    { estimator: estReport, classifier: report(clf, optionRef(m, routed)) },
    est.abstained,
    routed,
  );
}

function finish(
  c: LoadedCertifier,
  p: ResolvedParameters,
  stages: Certificate["stages"],
  fallback: boolean,
  option: number | null,
): Certificate {
  const m = c.manifest;
  const { estimator: est, classifier: clf } = stages;
  const abstainReason =
    est?.abstained && !fallback ? "estimator" : !clf || clf.abstained ? "classifier" : null;
  const abstained = abstainReason !== null;
  // min(R_sigma, R_c); a fallback option certifies nothing beyond x itself.
  const radius =
    abstained || fallback ? 0 : Math.min(clf?.radius ?? 0, est ? est.radius : Number.POSITIVE_INFINITY);
  const top = clf?.top ?? 0;
  return {
    certifier: m.id,
    mode: p.mode,
    prediction: abstained ? null : { index: top, label: m.labels[top] ?? String(top) },
    abstained,
    abstainReason,
    radius,
    fallback,
    alpha: p.alpha,
    seed: p.seed,
    parameters: {
      n0: p.n0,
      n: p.n,
      alpha: p.alpha,
      alphaSplit: p.mode === "dual" ? p.alphaSplit : null,
      sigma: p.mode === "global" ? (m.options[option ?? 0]?.sigma ?? null) : null,
      fallback: p.mode === "dual" ? p.fallback : null,
      sampling: p.sampling,
      targetRadius: p.targetRadius,
    },
    certifiedAtTarget: p.targetRadius === null ? null : !abstained && radius >= p.targetRadius,
    stages,
    models: digestsOf(c, p.mode === "dual" ? (m.estimator?.chain ?? []) : [], option),
    noise: c.noise ?? NOISE,
  };
}

function classifierOf(c: LoadedCertifier, option: number): NoisyClassifier {
  const model = c.options[option];
  if (!model) throw new Error(`certifier "${c.manifest.id}" has no classifier option ${option}`);
  return model;
}

function optionRef(m: Manifest, index: number): OptionRef {
  const o = m.options[index];
  return { index, sigma: o?.sigma ?? 0, ...(o?.name ? { name: o.name } : {}) };
}

function report(result: CertifyResult, option: OptionRef | null): StageReport {
  return { ...result, option };
}

/** Digests of the models a certificate depends on: the estimator chain and the option's chain. */
function digestsOf(
  c: LoadedCertifier,
  estimatorChain: string[],
  option: number | null,
): Record<string, string> {
  const names = [...estimatorChain, ...(option === null ? [] : (c.manifest.options[option]?.chain ?? []))];
  return Object.fromEntries(names.map((n) => [n, c.digests[n] ?? ""]));
}
