import { z } from "zod";
import type { LoadedCertifier } from "../core/certifier.js";
import { NOISE } from "../core/noise.js";
import type { ImageDataset } from "./dataset.js";
import type { EvaluateResult } from "./evaluate.js";

/** summary.json: what a run certified, how, and its certified accuracy; the rows are in `rows`. */
export const EvalSummary = z.object({
  format: z.literal("dualrs-eval/1"),
  /** A short name for tables and legends. */
  label: z.string(),
  certifier: z.string(),
  mode: z.enum(["dual", "global"]),
  /** Global mode: the sigma certified with; dual: null (sigma_c(x) is per input, in the rows). */
  sigma: z.number().nullable(),
  dataset: z.object({ name: z.string(), split: z.enum(["train", "test"]), size: z.number().int() }),
  /** Images certified: first, first + stride, ... (count of them). */
  inputs: z.object({ first: z.number().int(), stride: z.number().int(), count: z.number().int() }),
  /** Base seed; image idx is certified with seed + idx. */
  seed: z.number().int(),
  parameters: z.object({
    n0: z.number().int(),
    n: z.number().int(),
    alpha: z.number(),
    alphaSplit: z.number().nullable(),
    batchSize: z.number().int(),
    fallback: z.number().int().nullable(),
    /** Absent in summaries written before sequential sampling existed: fixed n. */
    sampling: z.enum(["fixed", "sequential"]).default("fixed"),
    targetRadius: z.number().nullable().default(null),
    /** Absent in summaries written before set routing existed: single. */
    routing: z.enum(["single", "set"]).default("single"),
  }),
  noise: z.string(),
  noiseMode: z.string(),
  /** sha256 of each model file of the certifier. */
  models: z.record(z.string(), z.string()),
  certifiedAccuracy: z.array(
    z.object({ radius: z.number(), certified: z.number().int(), accuracy: z.number() }),
  ),
  abstained: z.number().int(),
  fallbacks: z.number().int(),
  /** Seconds per image, and in all. */
  meanTime: z.number(),
  totalTime: z.number(),
  /** Noisy draws over all images and stages. */
  totalDraws: z.number().int(),
  /** The per-input TSV, relative to summary.json. */
  rows: z.string(),
  created: z.string(),
});
export type EvalSummary = z.infer<typeof EvalSummary>;

export interface SummaryContext {
  certifier: LoadedCertifier;
  dataset: ImageDataset;
  result: EvaluateResult;
  noiseMode: string;
  rows: string;
  label?: string | undefined;
}

export function summarize({
  certifier,
  dataset,
  result,
  noiseMode,
  rows,
  label,
}: SummaryContext): EvalSummary {
  const m = certifier.manifest;
  const p = result.parameters;
  const sigma = p.mode === "global" ? (m.options[p.option ?? 0]?.sigma ?? null) : null;
  return {
    format: "dualrs-eval/1",
    label: label ?? `${runLabel(m.id, p.mode, sigma)}${p.routing === "set" ? ", set routing" : ""}`,
    certifier: m.id,
    mode: p.mode,
    sigma,
    dataset: { name: dataset.name, split: dataset.split, size: dataset.size },
    inputs: { first: 0, stride: result.skip, count: result.inputs },
    seed: p.seed,
    parameters: {
      n0: p.n0,
      n: p.n,
      alpha: p.alpha,
      alphaSplit: p.mode === "dual" ? p.alphaSplit : null,
      batchSize: p.batchSize,
      fallback: p.mode === "dual" ? p.fallback : null,
      sampling: p.sampling,
      targetRadius: p.targetRadius,
      routing: p.routing,
    },
    noise: certifier.noise ?? NOISE,
    noiseMode,
    models: { ...certifier.digests },
    certifiedAccuracy: result.table,
    abstained: result.abstained,
    fallbacks: result.fallbacks,
    meanTime: result.inputs > 0 ? result.time / result.inputs : 0,
    totalTime: result.time,
    totalDraws: result.draws,
    rows,
    created: new Date().toISOString(),
  };
}

/** "fmnist-dual-experts (dual)", "fmnist-expert-0.25 (global, σ = 0.25)". */
export function runLabel(id: string, mode: "dual" | "global", sigma: number | null): string {
  return mode === "dual" || sigma === null ? `${id} (${mode})` : `${id} (global, σ = ${sigma})`;
}

/** "0, 20, 40, ..., 9980 (stride 20)". */
export function describeInputs({ first, stride, count }: EvalSummary["inputs"]): string {
  const at = (k: number) => first + k * stride;
  const shown =
    count <= 4
      ? Array.from({ length: count }, (_, k) => at(k)).join(", ")
      : `${at(0)}, ${at(1)}, ${at(2)}, ..., ${at(count - 1)}`;
  return `${shown} (stride ${stride})`;
}
