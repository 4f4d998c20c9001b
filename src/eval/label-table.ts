import type { LoadedCertifier } from "../core/certifier.js";
import { sampleCounts } from "../core/sampler.js";
import { lowerConfidenceBound, normalQuantile } from "../core/stats.js";
import type { ImageDataset } from "./dataset.js";
import { seedOf } from "./evaluate.js";

/*
 * The table a variance estimator is trained from (Dual RS): every classifier option certified on
 * every training image with n draws, counted on the image's true label. One row per (image,
 * option): index, label, option, sigma, nA (draws of the true label), n, pA_lower (one-sided
 * Clopper-Pearson at alpha) and radius = sigma * PhiInv(pA_lower) when pA_lower > 1/2, else 0.
 */

export const LABEL_COLUMNS = ["index", "label", "option", "sigma", "nA", "n", "pA_lower", "radius"] as const;

export interface LabelRow {
  index: number;
  label: number;
  option: number;
  sigma: number;
  nA: number;
  n: number;
  pALower: number;
  radius: number;
}

/** Option k's draws on an image: streams from 8 up, apart from those of certification (0 to 6). */
export const labelStream = (option: number): number => 8 + option;

export function labelRow(
  index: number,
  label: number,
  option: number,
  sigma: number,
  nA: number,
  n: number,
  alpha: number,
): LabelRow {
  const pALower = lowerConfidenceBound(nA, n, alpha);
  const radius = pALower > 0.5 ? sigma * normalQuantile(pALower) : 0;
  return { index, label, option, sigma, nA, n, pALower, radius };
}

export const labelHeader = (): string => `${LABEL_COLUMNS.join("\t")}\n`;

/** Numbers in full (shortest round-trip form), as the evaluation's TSV. */
export function labelLine(r: LabelRow): string {
  return `${[r.index, r.label, r.option, r.sigma, r.nA, r.n, r.pALower, r.radius].map(String).join("\t")}\n`;
}

/**
 * Rows of a table written by labelHeader and labelLine. A last line without its newline was cut
 * short by a stop and is dropped; any other malformed line is an error.
 */
export function parseLabelTable(text: string): LabelRow[] {
  const lines = text.split("\n");
  // After the last newline: "" for a whole file, the torn line otherwise.
  lines.pop();
  const [head, ...rows] = lines;
  if (head !== undefined && head !== LABEL_COLUMNS.join("\t"))
    throw new Error(`the header is not ${LABEL_COLUMNS.join(" ")}`);
  return rows.map((line, i) => {
    const cells = line.split("\t").map(Number);
    if (cells.length !== LABEL_COLUMNS.length || cells.some(Number.isNaN))
      throw new Error(`line ${i + 2} is not ${LABEL_COLUMNS.length} numbers`);
    const [index, label, option, sigma, nA, n, pALower, radius] = cells as number[];
    return { index, label, option, sigma, nA, n, pALower, radius } as LabelRow;
  });
}

export interface LabelTableOptions {
  /** Images 0 to count - 1 (fewer when the data set is smaller). */
  count: number;
  n: number;
  alpha: number;
  /** Base seed: option k on image i draws with seed seedOf(seed, i), stream labelStream(k). */
  seed: number;
  batchSize: number;
  /** Images whose rows are all there already. */
  done?: ReadonlySet<number> | undefined;
}

export interface LabelTableHooks {
  signal?: AbortSignal | undefined;
  /** Each image's rows, one per option, as soon as they are counted. */
  onRows?: ((rows: LabelRow[]) => void | Promise<void>) | undefined;
  onProgress?: ((p: { images: number; total: number }) => void) | undefined;
}

/** Counts every option on every image, image by image, at the engine's pace (batches of draws). */
export async function labelTable(
  certifier: LoadedCertifier,
  dataset: ImageDataset,
  options: LabelTableOptions,
  hooks: LabelTableHooks = {},
): Promise<{ images: number; draws: number }> {
  const m = certifier.manifest;
  const total = Math.min(options.count, dataset.size);
  const perImage = options.n * m.options.length;
  let draws = 0;
  for (let index = 0; index < total; index++) {
    hooks.signal?.throwIfAborted();
    if (options.done?.has(index)) {
      hooks.onProgress?.({ images: index + 1, total });
      continue;
    }
    const label = dataset.label(index);
    if (!(label >= 0 && label < m.labels.length))
      throw new RangeError(
        `image ${index} has label ${label}; certifier "${m.id}" has ${m.labels.length} classes`,
      );
    const x = dataset.image(index);
    const rows: LabelRow[] = [];
    for (const [k, option] of m.options.entries()) {
      const model = certifier.options[k];
      if (!model) throw new Error(`certifier "${m.id}" has no classifier for option ${k}`);
      const spec = {
        x,
        sigma: option.sigma,
        seed: seedOf(options.seed, index),
        stream: labelStream(k),
        num: options.n,
        batchSize: options.batchSize,
      };
      const counts = await sampleCounts(model, spec, {
        signal: hooks.signal,
        onBatch: (d) => hooks.onProgress?.({ images: index + (k * options.n + d) / perImage, total }),
      });
      rows.push(labelRow(index, label, k, option.sigma, counts[label] ?? 0, options.n, options.alpha));
      draws += options.n;
    }
    await hooks.onRows?.(rows);
    hooks.onProgress?.({ images: index + 1, total });
  }
  return { images: total, draws };
}
