import type { AccuracyPoint } from "./accuracy.js";
import { describeInputs, type EvalSummary } from "./summary.js";

/** One line of a certified accuracy table. */
export interface TableRow {
  label: string;
  table: readonly AccuracyPoint[];
  inputs: number;
  /** Seconds per image; null where it means nothing (the oracle). */
  meanTime: number | null;
}

/** Certified accuracy (%) by radius, one configuration per line, as in Cohen et al.'s Table 1. */
export function markdownTable(rows: readonly TableRow[]): string {
  const radii = rows[0]?.table.map((p) => p.radius) ?? [];
  const head = ["configuration", ...radii.map((r) => `r = ${r.toFixed(2)}`), "inputs", "time / image"];
  const lines = rows.map((row) => [
    row.label,
    ...row.table.map((p) => (100 * p.accuracy).toFixed(1)),
    String(row.inputs),
    row.meanTime === null ? "" : formatSeconds(row.meanTime),
  ]);
  const align = ["---", ...radii.map(() => "---:"), "---:", "---:"];
  return `${[head, align, ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n")}\n`;
}

export function formatSeconds(s: number): string {
  return s >= 10 ? `${s.toFixed(0)} s` : s >= 0.1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(1)} ms`;
}

/** table.md of one run: the table and how it was made. */
export function runMarkdown(s: EvalSummary): string {
  const p = s.parameters;
  const split = p.alphaSplit === null ? "" : ` (share ${p.alphaSplit} on the estimator)`;
  return [
    `# Certified accuracy: ${s.label}`,
    "",
    `- ${s.inputs.count} ${s.dataset.name} ${s.dataset.split} images: ${describeInputs(s.inputs)}.`,
    `- n0 = ${p.n0} and n = ${p.n} draws per stage, alpha = ${p.alpha}${split}${p.routing === "set" ? "; set routing (docs/routing.md)" : ""}.`,
    `- Base seed ${s.seed} (image i uses seed + i); noise ${s.noise}, drawn on the ${s.noiseMode === "graph" ? "device, in the graph" : "host"}.`,
    `- Abstained: ${s.abstained}${s.mode === "dual" ? `; estimator fallbacks: ${s.fallbacks}` : ""}. Draws: ${s.totalDraws}. Total time: ${formatSeconds(s.totalTime)}.`,
    "- An input counts at r = 0 when it is predicted correctly, and at r > 0 when its certified radius also exceeds r.",
    "",
    markdownTable([
      { label: s.label, table: s.certifiedAccuracy, inputs: s.inputs.count, meanTime: s.meanTime },
    ]),
  ].join("\n");
}
