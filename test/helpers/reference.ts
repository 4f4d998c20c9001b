import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** Reference values computed with scipy by test/reference/make.py (see test/reference/README.md). */
export const referenceDir = resolve(import.meta.dirname, "../reference");

/** Rows of a reference TSV as records of strings keyed by the header. */
export function readReference(file: string): Record<string, string>[] {
  const [header, ...rows] = readFileSync(resolve(referenceDir, file), "utf8").trim().split("\n");
  const keys = (header ?? "").split("\t");
  return rows.map((row) => Object.fromEntries(row.split("\t").map((v, i) => [keys[i], v])));
}

/** |actual - expected| <= rel * |expected|, or exact equality at 0. */
export function relativeError(actual: number, expected: number): number {
  if (expected === 0) return Math.abs(actual);
  return Math.abs(actual - expected) / Math.abs(expected);
}
