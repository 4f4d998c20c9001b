import type { EvalRow } from "./row.js";

/*
 * The per-input TSV of Cohen et al.'s certify.py (github.com/locuslab/smoothing, code/certify.py):
 * idx, label, predict (-1 abstains), radius, correct (0/1), time; dual mode adds sigma (the chosen
 * sigma_c(x), nan when none was chosen), r_sigma, r_c and fallback (0/1); set routing adds r_single
 * (min(R_sigma, R_c)) and extra_draws (the runner-ups' draws). Radii are written in
 * full (shortest round-trip form), so that tables recomputed from the file match summary.json;
 * time is in seconds, not certify.py's h:mm:ss.
 */

const common = ["idx", "label", "predict", "radius", "correct", "time"] as const;
const dual = ["sigma", "r_sigma", "r_c", "fallback"] as const;
const set = ["r_single", "extra_draws"] as const;

export function tsvHeader(mode: "dual" | "global", routing: "single" | "set" = "single"): string {
  const names = mode === "dual" ? [...common, ...dual, ...(routing === "set" ? set : [])] : common;
  return `${names.join("\t")}\n`;
}

export function tsvLine(row: EvalRow): string {
  const cells: string[] = [
    String(row.idx),
    String(row.label),
    String(row.predict),
    String(row.radius),
    row.correct ? "1" : "0",
    row.time.toFixed(3),
  ];
  const d = row.dual;
  if (d)
    cells.push(
      d.sigma === null ? "nan" : String(d.sigma),
      String(d.rSigma),
      String(d.rC),
      d.fallback ? "1" : "0",
      ...(d.rSingle === undefined ? [] : [String(d.rSingle), String(d.extraDraws ?? 0)]),
    );
  return `${cells.join("\t")}\n`;
}

/** Rows of a TSV written by tsvHeader and tsvLine; columns are found by name. */
export function parseTsv(text: string): EvalRow[] {
  const [head = "", ...lines] = text.split("\n").filter((l) => l.trim() !== "");
  const names = head.split("\t");
  const column = (name: string) => names.indexOf(name);
  for (const name of common) if (column(name) < 0) throw new Error(`TSV has no column "${name}"`);
  const isDual = dual.every((name) => column(name) >= 0);
  return lines.map((line, n) => {
    const cells = line.split("\t");
    const num = (name: string) => {
      const value = Number(cells[column(name)]);
      if (Number.isNaN(value) && cells[column(name)] !== "nan") {
        throw new Error(`TSV line ${n + 2}: ${name} "${cells[column(name)] ?? ""}" is not a number`);
      }
      return value;
    };
    const row: EvalRow = {
      idx: num("idx"),
      label: num("label"),
      predict: num("predict"),
      radius: num("radius"),
      correct: num("correct") === 1,
      time: num("time"),
    };
    if (isDual) {
      const sigma = num("sigma");
      row.dual = {
        sigma: Number.isNaN(sigma) ? null : sigma,
        rSigma: num("r_sigma"),
        rC: num("r_c"),
        fallback: num("fallback") === 1,
        ...(set.every((name) => column(name) >= 0) && {
          rSingle: num("r_single"),
          extraDraws: num("extra_draws"),
        }),
      };
    }
    return row;
  });
}
