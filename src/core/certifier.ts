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
  let offset = 0;
  const target = p.targetRadius ?? undefined;
  // Sequential looks where a rule can stop them: the estimator always, the classifier with a target.
  const looks = p.sampling === "sequential" ? lookSchedule(p.n) : undefined;
  const classifierLooks = target === undefined ? undefined : looks;
  const run = async (
    model: NoisyClassifier,
    sigma: number,
    alpha: number,
    stage: "estimator" | "classifier",
    sequential: Pick<CertifySpec, "looks" | "stopAt" | "target"> = {},
  ) => {
    const base = offset;
    const result = await certify(
      model,
      x,
      { sigma, alpha, stage, n0: p.n0, n: p.n, batchSize: p.batchSize, seed: p.seed, ...sequential },
      { signal: hooks.signal, onBatch: (done) => hooks.onProgress?.({ done: base + done, total }) },
    );
    offset += p.n0 + p.n;
    // A stage that stopped early skips the draws it did not need.
    if (result.n < p.n) hooks.onProgress?.({ done: offset, total });
    return result;
  };
  const classifierStage = () =>
    classifierLooks ? { looks: classifierLooks, stopAt: () => target ?? 0, target } : {};

  if (p.mode === "global") {
    const option = p.option ?? 0;
    const clf = await run(
      classifierOf(c, option),
      m.options[option]?.sigma ?? 0,
      p.alpha,
      "classifier",
      classifierStage(),
    );
    return finish(c, p, { estimator: null, classifier: report(clf, optionRef(m, option)) }, false, option);
  }

  const estimator = c.estimator;
  const e = m.estimator;
  if (!estimator || !e) throw new Error(`certifier "${m.id}" has no estimator`);
  const alphaE = p.alpha * p.alphaSplit;
  const routes = estimatorRoutes(m);
  // R_sigma beyond the largest R_c the routed option can certify cannot raise min(R_sigma, R_c).
  const capAlpha = (p.alpha - alphaE) / (classifierLooks?.length ?? 1);
  const stopAt = (top: number) => {
    const sigmaC = m.options[routes[top] ?? -1]?.sigma;
    const cap = sigmaC === undefined ? Number.POSITIVE_INFINITY : radiusCap(sigmaC, p.n, capAlpha);
    return Math.min(cap, target ?? Number.POSITIVE_INFINITY);
  };
  // Without a target only the cap stops the estimator: keep the looks where it can (for sigma_e <= sigma_c, none).
  const estimatorLooks =
    looks && target === undefined
      ? (top: number) => reachableLooks(e.sigma, looks, alphaE, stopAt(top))
      : looks;
  const est = await run(
    estimator,
    e.sigma,
    alphaE,
    "estimator",
    estimatorLooks ? { looks: estimatorLooks, stopAt, target } : {},
  );
  const routed = est.abstained ? p.fallback : (routes[est.top] ?? null);
  const estReport = report(est, routed === null ? null : optionRef(m, routed));
  if (routed === null) {
    hooks.onProgress?.({ done: total, total });
    return finish(c, p, { estimator: estReport, classifier: null }, false, null);
  }
  const clf = await run(
    classifierOf(c, routed),
    m.options[routed]?.sigma ?? 0,
    p.alpha - alphaE,
    "classifier",
    classifierStage(),
  );
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
