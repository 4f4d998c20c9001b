import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { resolveParameters } from "../core/parameters.js";
import { dataLayouts, loadDataset } from "../eval/data-source.js";
import { defaultDataDir, type ImageDataset, type Split } from "../eval/dataset.js";
import { DatasetError } from "../eval/errors.js";
import { evaluate } from "../eval/evaluate.js";
import { runMarkdown } from "../eval/markdown.js";
import { FILES, tsvWriter, writeRunReport } from "../eval/output.js";
import { evalProgressBar } from "../eval/progress.js";
import { readEarlierRun, runSettings, settingsDiff, writeRunSettings } from "../eval/resume.js";
import { type EvalSummary, summarize } from "../eval/summary.js";
import { localModelStore } from "../runtime/model-store.js";
import {
  type Certification,
  certificationOf,
  certificationUsage,
  oneOf,
  parseFlags,
  wholeFlag,
} from "./args.js";
import { openCertifier } from "./certifier.js";
import { UsageError } from "./errors.js";

export const evaluateUsage = `Usage: dualrs evaluate --manifest PATH [options]

Certifies images 0, skip, 2 skip, ... of a data set (default: Fashion-MNIST's test images) and
writes into --out: certify.tsv (one row per image, as Cohen et al.'s certify.py, written as it
goes), run.json (the settings), summary.json, table.md and the certified accuracy plot
(certified-accuracy.svg and .png). Prints the table on stdout.

  --manifest PATH        certifier manifest (.json); its models are looked up next to it
  --count C              images to certify (default 500)
  --skip K               stride between images (default 1)
  --data PATH            ${dataLayouts}
                         (default $DUALRS_DATA, else /usr/share/datasets/fashion-mnist, from
                         the Debian package dataset-fashion-mnist)
  --split test|train     which IDX files (default test)
  --out DIR              default out/eval/<manifest id>[-<mode>][-<sigma>]
  --seed K               base seed: image i is certified with seed K + i (random when absent)
  --resume               go on with the run in --out where it stopped (same settings; its seed
                         when --seed is absent), instead of starting it again
${certificationUsage}`;

export interface EvaluateArgs extends Certification {
  manifest: string;
  count: number;
  skip: number;
  data: string;
  split: Split;
  out?: string | undefined;
  resume: boolean;
}

export function parseEvaluateArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): EvaluateArgs {
  const flags = parseFlags(argv, ["data", "split", "out"], ["count", "skip"], ["resume"]);
  const s = flags.strings;
  return {
    manifest: s.manifest ?? "",
    count: wholeFlag(flags, "count", 1) ?? 500,
    skip: wholeFlag(flags, "skip", 1) ?? 1,
    data: s.data ?? defaultDataDir(env),
    split: oneOf("split", s.split ?? "test", ["test", "train"] as const),
    out: s.out,
    resume: flags.switches.resume,
    ...certificationOf(flags),
  };
}

/** `dualrs evaluate`: certifies a slice of Fashion-MNIST, writes the run's files, prints its table. */
export async function evaluateCommand(argv: string[], signal: AbortSignal): Promise<void> {
  const { summary, dir } = await runEvaluate(parseEvaluateArgs(argv), signal);
  process.stdout.write(runMarkdown(summary));
  process.stderr.write(`wrote ${dir}: ${Object.values(FILES).join(", ")}\n`);
}

export async function runEvaluate(
  args: EvaluateArgs,
  signal: AbortSignal,
): Promise<{ summary: EvalSummary; dir: string }> {
  // The data first: a missing data set fails before any model loads.
  const dataset = await readDataset(args.data, args.split, args.manifest);
  const certifier = await openCertifier(args.manifest, args);
  try {
    const dir = resolve(args.out ?? defaultOut(certifier.manifest.id, args.request));
    const earlier = args.resume ? await readEarlierRun(dir, FILES.rows) : null;
    // Resolved here too, for one base seed for the whole run (the earlier run's, when resuming).
    const seed = args.request.seed ?? earlier?.settings.seed;
    const p = resolveParameters(certifier.manifest, { ...args.request, seed });
    const request = { ...args.request, seed: p.seed };
    const run = { split: args.split, count: args.count, skip: args.skip, noiseMode: certifier.noiseMode };
    const settings = runSettings(certifier, run, p);
    const differ = earlier ? settingsDiff(earlier.settings, settings) : [];
    if (differ.length > 0) {
      throw new UsageError(
        `--resume: the run in ${dir} has another ${differ.join(", ")}; leave out --resume to start it again`,
      );
    }
    await mkdir(dir, { recursive: true });
    await writeRunSettings(dir, settings);
    // The file is written again from its complete rows, which leaves out a line cut short.
    const done = earlier?.rows ?? [];
    const rows = await tsvWriter(join(dir, FILES.rows), p.mode, p.routing);
    for (const row of done) await rows.write(row);
    const bar = evalProgressBar();
    let result: Awaited<ReturnType<typeof evaluate>>;
    try {
      result = await evaluate(
        certifier,
        dataset,
        { count: args.count, skip: args.skip, parameters: request, done },
        { signal, onRow: (row) => rows.write(row), onProgress: (q) => bar.update(q) },
      );
    } finally {
      bar.clear();
      await rows.close();
    }
    const summary = summarize({
      certifier,
      dataset,
      result,
      noiseMode: certifier.noiseMode,
      rows: FILES.rows,
    });
    await writeRunReport(dir, summary);
    return { summary, dir };
  } finally {
    await certifier.close();
  }
}

/** out/eval/<id>, with -<mode> and -<sigma> when they were asked for. */
function defaultOut(id: string, request: EvaluateArgs["request"]): string {
  const parts = [id, request.mode, request.sigma === undefined ? undefined : String(request.sigma)];
  return join("out", "eval", parts.filter((s) => s !== undefined).join("-"));
}

/** The data as inputs of the manifest's certifier (its shape, range and labels); no model loads. */
export async function readDataset(path: string, split: Split, manifest: string): Promise<ImageDataset> {
  const file = resolve(manifest);
  try {
    return await loadDataset(path, split, await localModelStore(dirname(file)).loadManifest(file));
  } catch (e) {
    if (e instanceof DatasetError) throw new UsageError(e.message);
    throw e;
  }
}
