import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { LoadedCertifier } from "../core/certifier.js";
import type { ResolvedParameters } from "../core/parameters.js";
import type { EvalRow } from "./row.js";
import type { EvalSummary } from "./summary.js";
import { parseTsv } from "./tsv.js";

/** A run's folder holds its settings (written first) beside its rows, so that it can be resumed. */
export const SETTINGS_FILE = "run.json";

/** What a run certifies and how; a run goes on only under the very same settings. */
export interface RunSettings {
  certifier: string;
  /** sha256 of each model file. */
  models: Record<string, string>;
  split: EvalSummary["dataset"]["split"];
  count: number;
  skip: number;
  seed: number;
  parameters: ResolvedParameters;
  noiseMode: string;
}

export function runSettings(
  certifier: LoadedCertifier,
  run: Pick<RunSettings, "split" | "count" | "skip" | "noiseMode">,
  parameters: ResolvedParameters,
): RunSettings {
  const { id } = certifier.manifest;
  return { certifier: id, models: { ...certifier.digests }, ...run, seed: parameters.seed, parameters };
}

export async function writeRunSettings(dir: string, settings: RunSettings): Promise<void> {
  await writeFile(join(dir, SETTINGS_FILE), `${JSON.stringify(settings, null, 2)}\n`);
}

/** The settings and rows of an earlier run in `dir`, or null when it holds none. */
export async function readEarlierRun(
  dir: string,
  rowsFile: string,
): Promise<{ settings: RunSettings; rows: EvalRow[] } | null> {
  const settings = await readFile(join(dir, SETTINGS_FILE), "utf8").catch(() => null);
  if (settings === null) return null;
  const text = await readFile(join(dir, rowsFile), "utf8").catch(() => "");
  // A line cut short when the run was stopped mid-write is dropped; that image is certified again.
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  const earlier = JSON.parse(settings) as RunSettings;
  // Runs written before sequential sampling existed drew a fixed n, and name no sampling.
  earlier.parameters.sampling ??= "fixed";
  earlier.parameters.targetRadius ??= null;
  // ... and before set routing, with single routing.
  earlier.parameters.routing ??= "single";
  return { settings: earlier, rows: complete ? parseTsv(complete) : [] };
}

/** The settings in which two runs differ, by name. */
export function settingsDiff(a: RunSettings, b: RunSettings): string[] {
  // As written to run.json: fields that are undefined are not there.
  const [x, y] = [a, b].map((s) => JSON.parse(JSON.stringify(s)) as Record<string, unknown>);
  const keys = [...new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})])];
  return keys.filter((k) => !isDeepStrictEqual(x?.[k], y?.[k]));
}
