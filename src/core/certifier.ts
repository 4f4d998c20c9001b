import type { Certificate, OptionRef, RoutingReport, StageReport } from "./certificate.js";
import { type CertifyResult, type CertifySpec, certify } from "./certify.js";
import { validateInput } from "./input.js";
import { estimatorRoutes, type Manifest } from "./manifest.js";
import type { NoisyClassifier } from "./model.js";
import { NOISE, type NoiseVersion } from "./noise.js";
import { type CertifyParameters, type ResolvedParameters, resolveParameters } from "./parameters.js";
import { certifyRunnerUps, routingAlphas, runnerUps } from "./routing.js";
import type { Progress } from "./sampler.js";
import { lookSchedule, radiusCap, reachableLooks } from "./sequential.js";
import type { Stage } from "./streams.js";

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
 * and fails with probability at most alpha_e + alpha_c = alpha (union bound). Set routing
 * (docs/routing.md) may certify past R_sigma.
 */
export async function certifyInput(
  c: LoadedCertifier,
  input: ArrayLike<number>,
  parameters: CertifyParameters | unknown = {},
  hooks: CertifyHooks = {},
): Promise<Certificate> {
  const x = validateInput(c.manifest, input);
  return certifyResolved(c, x, resolveParameters(c.manifest, parameters), hooks);
}

/**
 * certifyInput on an input and parameters already checked against `c.manifest`: `x` as
 * validateInput returns it, `p` as resolveParameters does. For callers that check a request once,
 * when it arrives, and certify it later.
 */
export async function certifyResolved(
  c: LoadedCertifier,
  x: Float32Array,
  p: ResolvedParameters,
  hooks: CertifyHooks = {},
): Promise<Certificate> {
  const m = c.manifest;
  const routes = estimatorRoutes(m);
  // Set routing may certify each other option once more; the total is what it could take.
  const others = p.routing === "set" ? new Set(routes).size - 1 : 0;
  const stages = p.mode === "dual" ? 2 + others : 1;
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
    stage: Stage,
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
  /** A classifier option's stage, smoothed at the option's sigma. */
  const runOption = (option: number, alpha: number, stage: Stage = "classifier") =>
    run(classifierOf(c, option), m.options[option]?.sigma ?? 0, alpha, stage, classifierPlan);

  if (p.mode === "global") {
    const option = p.option ?? 0;
    const clf = await runOption(option, p.alpha);
    return finish(c, p, { estimator: null, classifier: report(clf, optionRef(m, option)) }, false, option);
  }

  const estimator = c.estimator;
  const e = m.estimator;
  if (!estimator || !e) throw new Error(`certifier "${m.id}" has no estimator`);
  const alphaE = p.alpha * p.alphaSplit;
  const alphaC = p.alpha - alphaE;
  const alphas = p.routing === "set" ? routingAlphas(alphaC, routes.length, others + 1) : null;
  const runClassifier = (option: number) => runOption(option, alphas?.top ?? alphaC);
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
        sigmaC === undefined
          ? Number.POSITIVE_INFINITY
          : radiusCap(sigmaC, p.n, (alphas?.top ?? alphaC) / schedule.length);
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
    const none = alphas && noRouting(alphas, 0);
    return finish(
      c,
      p,
      { estimator: estReport, classifier: ran ?? null },
      false,
      early?.option ?? null,
      none,
    );
  }
  const clf = early?.option === routed ? early.result : await runClassifier(routed);
  const single = est.abstained || clf.abstained ? 0 : Math.min(est.radius, clf.radius);
  let routing = alphas && noRouting(alphas, single);
  // Extra draws only where R_sigma capped a classifier that did not abstain (with a target: capped
  // it below a target the classifier reaches).
  const want = target === undefined ? clf.radius : target;
  const capped = !est.abstained && !clf.abstained && est.radius < want && want <= clf.radius;
  if (alphas && routing && capped) {
    const candidates = runnerUps(est, routes, routed, alphas.upper, (i) => optionRef(m, i));
    const set = await certifyRunnerUps(clf.top, clf.radius, want, candidates, (option, rank) =>
      runOption(option, alphas.rank, { runnerUp: rank }),
    );
    routing = { ...routing, runnerUps: candidates, certified: set.certified, radius: set.radius };
  }
  if (alphas) hooks.onProgress?.({ done: total, total });
  return finish(
    c,
    p,
    { estimator: estReport, classifier: report(clf, optionRef(m, routed)) },
    est.abstained,
    routed,
    routing,
  );
}

/** Set routing's report before any runner-up is looked at: the radius is single routing's. */
function noRouting(alphas: RoutingReport["alphas"], single: number): RoutingReport & { radius: number } {
  return { singleRadius: single, alphas, runnerUps: [], certified: [], radius: single };
}

function finish(
  c: LoadedCertifier,
  p: ResolvedParameters,
  stages: Certificate["stages"],
  fallback: boolean,
  option: number | null,
  routing: (RoutingReport & { radius: number }) | null = null,
): Certificate {
  const m = c.manifest;
  const { estimator: est, classifier: clf } = stages;
  const abstainReason =
    est?.abstained && !fallback ? "estimator" : !clf || clf.abstained ? "classifier" : null;
  const abstained = abstainReason !== null;
  // min(R_sigma, R_c); a fallback option certifies nothing beyond x itself.
  const radius =
    abstained || fallback
      ? 0
      : (routing?.radius ?? Math.min(clf?.radius ?? 0, est ? est.radius : Number.POSITIVE_INFINITY));
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
      routing: p.mode === "dual" ? p.routing : null,
    },
    certifiedAtTarget: p.targetRadius === null ? null : !abstained && radius >= p.targetRadius,
    stages,
    routing: routing && reportOf(routing),
    models: digestsOf(c, p.mode === "dual" ? (m.estimator?.chain ?? []) : [], [
      option,
      ...(routing?.certified.map((s) => s.option?.index ?? null) ?? []),
    ]),
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

function reportOf({ radius: _, ...report }: RoutingReport & { radius: number }): RoutingReport {
  return report;
}

/** Digests of the models a certificate depends on: the estimator chain and the options' chains. */
function digestsOf(
  c: LoadedCertifier,
  estimatorChain: string[],
  options: (number | null)[],
): Record<string, string> {
  const chains = options.flatMap((o) => (o === null ? [] : (c.manifest.options[o]?.chain ?? [])));
  const names = [...estimatorChain, ...chains];
  return Object.fromEntries(names.map((n) => [n, c.digests[n] ?? ""]));
}
