import type { EvalRow } from "./row.js";

/** The radii of the table and plot: 0, 0.25, ..., 2.0. */
export const RADII: readonly number[] = Array.from({ length: 9 }, (_, i) => i * 0.25);

export interface AccuracyPoint {
  radius: number;
  /** Inputs counted at this radius. */
  certified: number;
  /** certified / inputs; 0 when there are no inputs. */
  accuracy: number;
}

/**
 * Whether a row counts as certified-correct at radius r. At r = 0: correct, i.e. not abstained and
 * predicting the label (a fallback certificate of radius 0 counts here). At r > 0: correct and
 * radius > r, strictly, as this project specifies "the radius exceeds r" (Cohen et al.'s
 * analyze.py uses radius >= r; the two differ only for radii exactly on a grid point).
 */
export function certifiedAt(row: Pick<EvalRow, "correct" | "radius">, r: number): boolean {
  return row.correct && (r <= 0 || row.radius > r);
}

/** Running counts over rows, in constant memory, for tables over any number of inputs. */
export interface AccuracyTally {
  add(row: EvalRow): void;
  readonly inputs: number;
  readonly abstained: number;
  readonly fallbacks: number;
  /** Seconds, summed over rows. */
  readonly time: number;
  table(): AccuracyPoint[];
}

export function accuracyTally(radii: readonly number[] = RADII): AccuracyTally {
  const counts = radii.map(() => 0);
  let inputs = 0;
  let abstained = 0;
  let fallbacks = 0;
  let time = 0;
  return {
    add(row) {
      inputs++;
      if (row.predict < 0) abstained++;
      if (row.dual?.fallback) fallbacks++;
      time += row.time;
      radii.forEach((r, i) => {
        if (certifiedAt(row, r)) counts[i] = (counts[i] ?? 0) + 1;
      });
    },
    get inputs() {
      return inputs;
    },
    get abstained() {
      return abstained;
    },
    get fallbacks() {
      return fallbacks;
    },
    get time() {
      return time;
    },
    table: () =>
      radii.map((radius, i) => {
        const certified = counts[i] ?? 0;
        return { radius, certified, accuracy: inputs > 0 ? certified / inputs : 0 };
      }),
  };
}

/** The certified accuracy of rows at each radius. */
export function certifiedAccuracy(
  rows: Iterable<EvalRow>,
  radii: readonly number[] = RADII,
): AccuracyPoint[] {
  const tally = accuracyTally(radii);
  for (const row of rows) tally.add(row);
  return tally.table();
}
