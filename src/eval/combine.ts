import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { certifiedAccuracy, RADII } from "./accuracy.js";
import { markdownTable, type TableRow } from "./markdown.js";
import { oracleRows } from "./oracle.js";
import type { EvalRow } from "./row.js";
import { EvalSummary } from "./summary.js";
import { accuracyPlot, type Curve } from "./svg.js";
import { parseTsv } from "./tsv.js";

/** One run: its summary.json and its per-input rows. */
export interface EvalRun {
  summary: EvalSummary;
  rows: readonly EvalRow[];
}

export interface CombineOptions {
  /** Add the oracle over the global runs (when there are two or more); default true. */
  oracle?: boolean | undefined;
  title?: string | undefined;
  radii?: readonly number[] | undefined;
}

export interface Combined {
  /** One line per run, then the oracle's. */
  markdown: string;
  svg: string;
  lines: TableRow[];
}

/**
 * Several runs as one markdown table and one plot (for docs/results.md), plus an "oracle" line:
 * per input, the best radius over the global runs, the upper bound of routing between their sigmas.
 */
export function combineRuns(runs: readonly EvalRun[], options: CombineOptions = {}): Combined {
  const radii = options.radii ?? RADII;
  const lines: TableRow[] = runs.map(({ summary, rows }) => ({
    label: summary.label,
    // Recomputed from the rows, so that every line uses the same radii.
    table: certifiedAccuracy(rows, radii),
    inputs: rows.length,
    meanTime: summary.meanTime,
  }));
  const curves: Curve[] = lines.map((l) => ({ label: l.label, points: l.table }));
  const global = runs.filter((r) => r.summary.mode === "global");
  if ((options.oracle ?? true) && global.length >= 2) {
    const splits = new Set(global.map((r) => `${r.summary.dataset.name}/${r.summary.dataset.split}`));
    if (splits.size > 1) throw new Error(`the global runs are on different data: ${[...splits].join(", ")}`);
    const rows = oracleRows(global.map((r) => r.rows));
    const sigmas = global.map((r) => r.summary.sigma).filter((s) => s !== null);
    const label = `oracle (best of σ = ${sigmas.join(", ")})`;
    const table = certifiedAccuracy(rows, radii);
    lines.push({ label, table, inputs: rows.length, meanTime: null });
    curves.push({ label, points: table, dashed: true, color: "#333333" });
  }
  return {
    markdown: markdownTable(lines),
    svg: accuracyPlot(curves, { title: options.title ?? "Certified accuracy" }),
    lines,
  };
}

/** Reads a run from its summary.json and the TSV it names. */
export async function readRun(summaryPath: string): Promise<EvalRun> {
  const summary = EvalSummary.parse(JSON.parse(await readFile(summaryPath, "utf8")));
  const rows = parseTsv(await readFile(join(dirname(summaryPath), summary.rows), "utf8"));
  return { summary, rows };
}

/** combineRuns over summary.json files. */
export async function combineSummaries(
  paths: readonly string[],
  options: CombineOptions = {},
): Promise<Combined> {
  return combineRuns(await Promise.all(paths.map(readRun)), options);
}
