import { open, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { dataLayouts } from "../eval/data-source.js";
import type { Split } from "../eval/dataset.js";
import { type LabelRow, labelHeader, labelLine, labelTable, parseLabelTable } from "../eval/label-table.js";
import { evalProgressBar } from "../eval/progress.js";
import { type Certification, certificationOf, oneOf, parseFlags, wholeFlag } from "./args.js";
import { openCertifier } from "./certifier.js";
import { UsageError } from "./errors.js";
import { readDataset } from "./evaluate.js";

export const labelsUsage = `Usage: dualrs labels --manifest PATH --data PATH --out FILE.tsv [options]

The table a Dual RS variance estimator is trained from: each classifier option of the manifest
certified on each image with --n draws, counted on the image's true label. Writes a TSV, one
header line and then one row per (image, option), as it goes:

  index  label  option  sigma  nA  n  pA_lower  radius

index: the image's index in the data; label: its true class; nA: draws of that class out of n;
pA_lower: one-sided Clopper-Pearson lower bound at --alpha; radius: sigma * PhiInv(pA_lower) when
pA_lower > 0.5, else 0. The options are the manifest's: a Dual RS certifier's, or a global one's
with several options and no estimator (dualrs models create with one --model per sigma). Option
k on image i draws with seed (--seed + i) and noise stream 8 + k, so the rows never change.

  --manifest PATH        certifier manifest (.json); its models are looked up next to it
  --data PATH            ${dataLayouts}
  --split test|train     which IDX files (default train)
  --out FILE             the TSV (its settings go to FILE.json)
  --count N              images 0 to N - 1 (default: all)
  --n N                  draws per option and image (default 100)
  --alpha A              default 0.05
  --seed K               base seed (default 0)
  --resume               go on with the table in --out, skipping images whose rows are all there
  --batch-size B         draws per model call (never changes the rows)
  --noise graph|host     where the noise is made (default: host on the CPU, graph on a GPU)
  --providers P          auto (default), cpu, cuda or cuda,cpu
  --threads T            CPU threads per operator
  --workers W            threads over which each image's batches spread (default 1)
`;

export interface LabelsArgs extends Certification {
  manifest: string;
  data: string;
  split: Split;
  out: string;
  count: number;
  n: number;
  alpha: number;
  seed: number;
  resume: boolean;
}

export function parseLabelsArgs(argv: string[]): LabelsArgs {
  const flags = parseFlags(argv, ["data", "split", "out"], ["count"], ["resume"]);
  // Every flag's text, numbers' included, for messages.
  const s = flags.strings as Record<string, string | undefined>;
  for (const name of ["mode", "sigma", "n0", "alpha-split"] as const) {
    if (s[name] !== undefined) throw new UsageError(`--${name} does not apply: every option is counted`);
  }
  if (!s.data) throw new UsageError("--data PATH is required");
  if (!s.out) throw new UsageError("--out FILE is required");
  const alpha = flags.numbers.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`--alpha: "${s.alpha}" is not between 0 and 1`);
  const seed = wholeFlag(flags, "seed", 0) ?? 0;
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: "${s.seed}" is too large`);
  return {
    manifest: s.manifest ?? "",
    data: s.data,
    split: oneOf("split", s.split ?? "train", ["test", "train"] as const),
    out: s.out,
    count: wholeFlag(flags, "count", 1) ?? Number.POSITIVE_INFINITY,
    n: wholeFlag(flags, "n", 1) ?? 100,
    alpha,
    seed,
    resume: flags.switches.resume,
    ...certificationOf(flags),
  };
}

/** What a table counts; a table goes on only under the very same settings. */
interface TableSettings {
  certifier: string;
  models: Record<string, string>;
  data: string;
  split: Split;
  n: number;
  alpha: number;
  seed: number;
}

/** `dualrs labels`: writes the table, prints where and how fast on stderr. */
export async function labelsCommand(argv: string[], signal: AbortSignal): Promise<void> {
  const args = parseLabelsArgs(argv);
  const { rows, seconds, draws } = await runLabels(args, signal);
  const rate = seconds > 0 ? Math.round(draws / seconds) : 0;
  process.stderr.write(`wrote ${resolve(args.out)}: ${rows} rows; ${draws} draws at ${rate} samples/s\n`);
}

export async function runLabels(
  args: LabelsArgs,
  signal: AbortSignal,
): Promise<{ rows: number; seconds: number; draws: number }> {
  // The data first: a missing data set fails before any model loads.
  const dataset = await readDataset(args.data, args.split, args.manifest);
  const certifier = await openCertifier(args.manifest, args);
  try {
    const m = certifier.manifest;
    const settings: TableSettings = {
      certifier: m.id,
      models: { ...certifier.digests },
      data: resolve(args.data),
      split: args.split,
      n: args.n,
      alpha: args.alpha,
      seed: args.seed,
    };
    const out = resolve(args.out);
    const kept = args.resume ? await earlierRows(out, settings, m.options.length) : [];
    await writeFile(`${out}.json`, `${JSON.stringify(settings, null, 2)}\n`);
    // Written again from the rows of whole images: a torn line or a half-done image goes.
    await writeFile(out, labelHeader() + kept.map(labelLine).join(""));
    const file = await open(out, "a");
    const bar = evalProgressBar();
    const start = performance.now();
    let written = kept.length;
    try {
      const { draws } = await labelTable(
        certifier,
        dataset,
        {
          count: args.count,
          n: args.n,
          alpha: args.alpha,
          seed: args.seed,
          batchSize: args.request.batchSize ?? m.defaults.batchSize,
          done: new Set(kept.map((r) => r.index)),
        },
        {
          signal,
          onRows: async (rows) => {
            await file.write(rows.map(labelLine).join(""));
            written += rows.length;
          },
          onProgress: (p) => bar.update(p),
        },
      );
      return { rows: written, seconds: (performance.now() - start) / 1000, draws };
    } finally {
      bar.clear();
      await file.close();
    }
  } finally {
    await certifier.close();
  }
}

/** The rows of the images the table at `out` has whole (every option); none when there is no table. */
async function earlierRows(out: string, settings: TableSettings, options: number): Promise<LabelRow[]> {
  const text = await readFile(out, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw e;
  });
  if (text === null) return [];
  const earlier: unknown = JSON.parse(await readFile(`${out}.json`, "utf8").catch(() => "null"));
  if (!isDeepStrictEqual(earlier, settings)) {
    const before = (earlier ?? {}) as Record<string, unknown>;
    const differ = Object.keys(settings).filter(
      (k) => !isDeepStrictEqual(before[k], settings[k as keyof TableSettings]),
    );
    throw new UsageError(
      `--resume: the table in ${out} was made with another ${differ.join(", ")}; leave out --resume to start it again`,
    );
  }
  let rows: LabelRow[];
  try {
    rows = parseLabelTable(text);
  } catch (e) {
    throw new UsageError(`--resume: ${out}: ${(e as Error).message}`);
  }
  const byImage = new Map<number, Set<number>>();
  for (const r of rows) byImage.set(r.index, (byImage.get(r.index) ?? new Set()).add(r.option));
  return rows.filter((r) => byImage.get(r.index)?.size === options);
}
