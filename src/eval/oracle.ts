import type { EvalRow } from "./row.js";

/**
 * The oracle over several runs on the same inputs (typically global runs at different sigmas):
 * per input, the largest radius of any run that predicts it correctly. No routing between those
 * runs' sigmas can certify more, so its certified accuracy bounds what the variance estimator can
 * reach (Sun, Mao, Vechev 2026 compare against the same per-input best sigma). Only inputs that
 * every run certified are kept.
 */
export function oracleRows(runs: readonly (readonly EvalRow[])[]): EvalRow[] {
  if (runs.length === 0) return [];
  const byIdx = runs.map((rows) => new Map(rows.map((r) => [r.idx, r])));
  const out: EvalRow[] = [];
  for (const first of runs[0] ?? []) {
    const rows = byIdx.map((m) => m.get(first.idx));
    if (rows.some((r) => r === undefined)) continue;
    const present = rows as EvalRow[];
    if (present.some((r) => r.label !== first.label)) {
      throw new Error(`input ${first.idx} has different labels across runs: are they on the same data?`);
    }
    const correct = present.filter((r) => r.correct);
    const best = correct.reduce<EvalRow | undefined>(
      (a, r) => (a && a.radius >= r.radius ? a : r),
      undefined,
    );
    out.push({
      idx: first.idx,
      label: first.label,
      predict: best?.predict ?? first.predict,
      radius: best?.radius ?? 0,
      correct: best !== undefined,
      time: present.reduce((s, r) => s + r.time, 0),
    });
  }
  return out;
}
