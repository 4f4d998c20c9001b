import type { Certificate } from "../core/certificate.js";
import { certifyResolved, type LoadedCertifier } from "../core/certifier.js";
import { InputError } from "../core/errors.js";
import { validateInput } from "../core/input.js";
import { type CertifyParameters, type ResolvedParameters, resolveParameters } from "../core/parameters.js";
import { type AccuracyPoint, accuracyTally, RADII } from "./accuracy.js";
import type { ImageDataset } from "./dataset.js";
import { certificateDraws, drawsOf, type EvalRow, rowOf } from "./row.js";

export interface EvaluateOptions {
  /** How many images: 0, skip, 2 skip, ... while they exist in the data set. */
  count: number;
  /** Stride between certified images (Cohen et al.'s --skip). */
  skip: number;
  /** Resolved once for the run; the seed is the run's base seed (random when absent). */
  parameters?: CertifyParameters | undefined;
  radii?: readonly number[] | undefined;
  /** Rows an earlier run under the same settings certified: tallied as they are, not certified again. */
  done?: readonly EvalRow[] | undefined;
}

export interface EvaluateProgress {
  /** Images done, with the share of the current one's draws: a fraction. */
  images: number;
  total: number;
}

export interface EvaluateHooks {
  signal?: AbortSignal | undefined;
  /** Each row as soon as it is certified, in order; the loop keeps none of them. */
  onRow?: ((row: EvalRow, certificate: Certificate) => void | Promise<void>) | undefined;
  onProgress?: ((p: EvaluateProgress) => void) | undefined;
}

export interface EvaluateResult {
  /** Resolved once for the run; `seed` is the base seed. */
  parameters: ResolvedParameters;
  /** Images certified: indices 0, skip, ..., (inputs - 1) skip. */
  inputs: number;
  skip: number;
  table: AccuracyPoint[];
  abstained: number;
  fallbacks: number;
  /** Seconds, summed over images. */
  time: number;
  draws: number;
}

/** The indices an evaluation certifies, at most `count` of them. */
export function evalIndices(size: number, count: number, skip: number): number[] {
  const n = Math.max(0, Math.min(count, Math.ceil(size / skip)));
  return Array.from({ length: n }, (_, k) => k * skip);
}

/**
 * Image idx's seed: base + idx, so that images get independent noise and any one certificate can
 * be reproduced alone (`dualrs certify --seed <base + idx>`); wraps below 2^53.
 */
export function seedOf(base: number, idx: number): number {
  const limit = Number.MAX_SAFE_INTEGER + 1;
  return base >= limit - idx ? base - (limit - idx) : base + idx;
}

/**
 * Certifies images 0, skip, 2 skip, ... of a data set one after another (as Cohen et al.'s
 * certify.py does) and tallies the certified accuracy; rows stream out through `onRow`, so memory
 * stays flat however many images there are.
 */
export async function evaluate(
  certifier: LoadedCertifier,
  dataset: ImageDataset,
  options: EvaluateOptions,
  hooks: EvaluateHooks = {},
): Promise<EvaluateResult> {
  const { count, skip } = options;
  if (!(Number.isInteger(count) && count >= 1))
    throw new InputError("count must be a positive integer", ["count"]);
  if (!(Number.isInteger(skip) && skip >= 1))
    throw new InputError("skip must be a positive integer", ["skip"]);
  const m = certifier.manifest;
  const size = m.input.shape.reduce((a, b) => a * b, 1);
  const imageSize = dataset.shape.reduce((a, b) => a * b, 1);
  if (size !== imageSize) {
    throw new InputError(
      `certifier "${m.id}" takes inputs [${m.input.shape.join(", ")}]; ${dataset.name} images are [${dataset.shape.join(", ")}]`,
      ["input"],
    );
  }
  // Resolved once: bad parameters fail before any model runs, and the base seed is fixed.
  const parameters = resolveParameters(m, options.parameters ?? {});
  const indices = evalIndices(dataset.size, count, skip);
  const tally = accuracyTally(options.radii ?? RADII);
  const done = new Map((options.done ?? []).map((r) => [r.idx, r]));
  let draws = 0;
  for (const [k, idx] of indices.entries()) {
    hooks.signal?.throwIfAborted();
    const earlier = done.get(idx);
    if (earlier) {
      tally.add(earlier);
      draws += drawsOf(earlier, parameters);
      hooks.onProgress?.({ images: k + 1, total: indices.length });
      continue;
    }
    const label = dataset.label(idx);
    const start = performance.now();
    const cert = await certifyResolved(
      certifier,
      validateInput(m, dataset.image(idx)),
      { ...parameters, seed: seedOf(parameters.seed, idx) },
      {
        signal: hooks.signal,
        onProgress: (p) =>
          hooks.onProgress?.({ images: k + (p.total > 0 ? p.done / p.total : 1), total: indices.length }),
      },
    );
    const row = rowOf(cert, idx, label, (performance.now() - start) / 1000);
    // From the certificate: a sequential stage may stop before n (rows of a resumed run assume n).
    draws += certificateDraws(cert);
    tally.add(row);
    await hooks.onRow?.(row, cert);
    hooks.onProgress?.({ images: k + 1, total: indices.length });
  }
  return {
    parameters,
    inputs: tally.inputs,
    skip,
    table: tally.table(),
    abstained: tally.abstained,
    fallbacks: tally.fallbacks,
    time: tally.time,
    draws,
  };
}
