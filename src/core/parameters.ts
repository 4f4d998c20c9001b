import { z } from "zod";
import { InputError } from "./errors.js";
import type { Manifest } from "./manifest.js";

/** What a caller may set for one certification; everything else comes from the manifest's defaults. */
export const CertifyParameters = z.strictObject({
  mode: z
    .enum(["dual", "global"])
    .optional()
    .describe(
      "dual: the estimator picks sigma per input; global: one sigma. Default: dual when the certifier has an estimator",
    ),
  sigma: z
    .number()
    .positive()
    .finite()
    .optional()
    .describe("global mode: the sigma of the classifier option to use"),
  n0: z.number().int().min(1).max(1e7).optional().describe("selection draws per stage"),
  n: z.number().int().min(1).max(1e9).optional().describe("estimation draws per stage"),
  alpha: z.number().gt(0).lt(1).optional().describe("probability that the certificate is wrong"),
  alphaSplit: z
    .number()
    .gt(0)
    .lt(1)
    .optional()
    .describe("dual mode: share of alpha spent on the estimator stage"),
  batchSize: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe("draws per model call; never changes the result"),
  seed: z
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe("noise seed; random when absent, and recorded in the certificate"),
  fallback: z
    .number()
    .int()
    .min(0)
    .nullable()
    .optional()
    .describe("dual mode: option used with radius 0 when the estimator abstains; null abstains instead"),
  sampling: z
    .enum(["fixed", "sequential"])
    .optional()
    .describe(
      "fixed: n estimation draws per stage; sequential: draws in looks on a fixed schedule with alpha split across them, stopping once more draws cannot change the answer (the estimator stage, and both stages with a targetRadius). Default: sequential when targetRadius is set, else fixed",
    ),
  targetRadius: z
    .number()
    .positive()
    .finite()
    .optional()
    .describe(
      "decide whether the input is certified at this L2 radius (certifiedAtTarget), with as few draws as the data allow",
    ),
  routing: z
    .enum(["single", "set"])
    .optional()
    .describe(
      "dual mode: single certifies min(R_sigma, R_c); set also certifies, with fresh draws, the other options the estimator could route to past R_sigma, and extends the radius while they agree (docs/routing.md). Default: single",
    ),
});
export type CertifyParameters = z.infer<typeof CertifyParameters>;

export interface ResolvedParameters {
  mode: "dual" | "global";
  /** The classifier option of a global certificate. */
  option: number | null;
  n0: number;
  n: number;
  alpha: number;
  alphaSplit: number;
  batchSize: number;
  seed: number;
  fallback: number | null;
  sampling: "fixed" | "sequential";
  targetRadius: number | null;
  routing: "single" | "set";
}

/**
 * Validates parameters against the certifier and fills in its defaults. Errors name the field at
 * fault under `at`, where the caller keeps the parameters (["parameters"] in an API request).
 */
export function resolveParameters(
  manifest: Manifest,
  raw: unknown = {},
  at: readonly (string | number)[] = [],
): ResolvedParameters {
  const fail = (message: string, field: readonly (string | number)[]) =>
    new InputError(message, [...at, ...field]);
  const parsed = CertifyParameters.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(issue?.message ?? "invalid parameters", issue?.path.map(pathKey) ?? []);
  }
  const p = parsed.data;
  const d = manifest.defaults;
  const mode = p.mode ?? (manifest.estimator ? "dual" : "global");
  if (mode === "dual" && !manifest.estimator) {
    throw fail(`certifier "${manifest.id}" has no estimator; use mode "global"`, ["mode"]);
  }
  if (mode === "global" && p.routing === "set") {
    throw fail('routing "set" needs dual mode: a global certificate has no routing', ["routing"]);
  }
  const fallback = p.fallback === undefined ? (manifest.estimator?.fallback ?? null) : p.fallback;
  if (fallback !== null && fallback >= manifest.options.length) {
    throw fail(`no classifier option ${fallback}`, ["fallback"]);
  }
  return {
    mode,
    option: mode === "global" ? globalOption(manifest, p.sigma, fail) : null,
    n0: p.n0 ?? d.n0,
    n: p.n ?? d.n,
    alpha: p.alpha ?? d.alpha,
    alphaSplit: p.alphaSplit ?? d.alphaSplit,
    batchSize: p.batchSize ?? d.batchSize,
    seed: p.seed ?? randomSeed(),
    fallback,
    sampling: p.sampling ?? (p.targetRadius === undefined ? "fixed" : "sequential"),
    targetRadius: p.targetRadius ?? null,
    routing: p.routing ?? "single",
  };
}

function globalOption(
  manifest: Manifest,
  sigma: number | undefined,
  fail: (message: string, field: readonly (string | number)[]) => InputError,
): number {
  const sigmas = manifest.options.map((o) => o.sigma);
  if (sigma === undefined) {
    if (sigmas.length === 1) return 0;
    throw fail(`global mode needs a sigma, one of ${sigmas.join(", ")}`, ["sigma"]);
  }
  const i = sigmas.findIndex((s) => Math.abs(s - sigma) <= 1e-9 * s);
  if (i < 0) throw fail(`sigma ${sigma} is not offered; choose one of ${sigmas.join(", ")}`, ["sigma"]);
  return i;
}

/** A uniformly random safe-integer seed (Web Crypto, so the engine runs anywhere). */
function randomSeed(): number {
  const [hi = 0, lo = 0] = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return (hi & 0x1fffff) * 2 ** 32 + lo;
}

function pathKey(k: PropertyKey): string | number {
  return typeof k === "symbol" ? String(k) : k;
}
