import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { resolveParameters } from "../core/parameters.js";
import { defaultDataDir, type ImageDataset, loadFashionMnist, type Split } from "../eval/dataset.js";
import { DatasetError } from "../eval/errors.js";
import { evaluate } from "../eval/evaluate.js";
import { runMarkdown } from "../eval/markdown.js";
import { FILES, tsvWriter, writeRunReport } from "../eval/output.js";
import { evalProgressBar } from "../eval/progress.js";
import { type EvalSummary, summarize } from "../eval/summary.js";
import { loadCertifier } from "../runtime/certifier.js";
import { localModelStore } from "../runtime/model-store.js";
import type { ProviderConfig } from "../runtime/providers.js";
import { oneOf, providersOf } from "./args.js";
import { UsageError } from "./errors.js";

export const evaluateUsage = `Usage: dualrs evaluate --manifest PATH [options]

Certifies Fashion-MNIST images 0, skip, 2 skip, ... and writes into --out: certify.tsv (one row per
image, as Cohen et al.'s certify.py), summary.json, table.md and the certified accuracy plot
(certified-accuracy.svg and .png). Prints the table on stdout.

  --manifest PATH        certifier manifest (.json); its models are looked up next to it
  --count C              images to certify (default 500)
  --skip K               stride between images (default 1)
  --data DIR             IDX files (default $DUALRS_DATA, else /usr/share/datasets/fashion-mnist,
                         from the Debian package dataset-fashion-mnist)
  --split test|train     default test
  --out DIR              default out/eval/<manifest id>[-<mode>][-<sigma>]
  --mode dual|global     default: dual when the certifier has an estimator
  --sigma S              global mode: which classifier option's sigma
  --n N, --n0 N          estimation and selection draws per stage (default: the manifest's)
  --alpha A              probability that a certificate is wrong (default: the manifest's)
  --alpha-split F        dual mode: share of alpha spent on the estimator
  --batch-size B         draws per model call (never changes the result)
  --seed K               base seed: image i is certified with seed K + i (random when absent)
  --noise graph|host     where the noise is drawn (default host)
  --providers P          auto (default), cpu, cuda or cuda,cpu
  --threads T            CPU threads per operator (default: one per core)
`;

export interface EvaluateArgs {
  manifest: string;
  count: number;
  skip: number;
  data: string;
  split: Split;
  out?: string | undefined;
  providers: ProviderConfig;
  noise: "graph" | "host";
  threads?: number | undefined;
  /** Passed to the core as is: it validates and fills in the manifest's defaults. */
  request: {
    mode?: "dual" | "global" | undefined;
    sigma?: number | undefined;
    n0?: number | undefined;
    n?: number | undefined;
    alpha?: number | undefined;
    alphaSplit?: number | undefined;
    batchSize?: number | undefined;
    seed?: number | undefined;
  };
}

const numeric = [
  "count",
  "skip",
  "sigma",
  "n",
  "n0",
  "alpha",
  "alpha-split",
  "batch-size",
  "seed",
  "threads",
] as const;
const strings = ["manifest", "data", "split", "out", "mode", "noise", "providers"] as const;

export function parseEvaluateArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): EvaluateArgs {
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries(
      [...numeric, ...strings].map((name) => [name, { type: "string" as const }]),
    );
    values = parseArgs({ args: argv, strict: true, allowPositionals: false, options })
      .values as typeof values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!values.manifest) throw new UsageError("--manifest PATH is required");
  const num: Partial<Record<(typeof numeric)[number], number>> = {};
  for (const name of numeric) {
    const text = values[name];
    if (text === undefined) continue;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value))
      throw new UsageError(`--${name}: "${text}" is not a number`);
    num[name] = value;
  }
  const whole = (name: "count" | "skip" | "threads", min: number) => {
    const v = num[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
      throw new UsageError(`--${name}: "${values[name]}" is not an integer >= ${min}`);
    }
  };
  whole("count", 1);
  whole("skip", 1);
  whole("threads", 0);
  return {
    manifest: values.manifest,
    count: num.count ?? 500,
    skip: num.skip ?? 1,
    data: values.data ?? defaultDataDir(env),
    split: oneOf("split", values.split ?? "test", ["test", "train"] as const),
    out: values.out,
    providers: providersOf(values.providers ?? "auto"),
    noise: oneOf("noise", values.noise ?? "host", ["graph", "host"] as const),
    threads: num.threads,
    request: {
      mode: values.mode === undefined ? undefined : oneOf("mode", values.mode, ["dual", "global"] as const),
      sigma: num.sigma,
      n0: num.n0,
      n: num.n,
      alpha: num.alpha,
      alphaSplit: num["alpha-split"],
      batchSize: num["batch-size"],
      seed: num.seed,
    },
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
  const dataset = await readDataset(args.data, args.split);
  const manifestPath = resolve(args.manifest);
  const certifier = await loadCertifier(localModelStore(dirname(manifestPath)), manifestPath, {
    providers: args.providers,
    noise: args.noise,
    threads: args.threads,
  });
  try {
    // Resolved here too, for the folder name and one base seed for the whole run.
    const p = resolveParameters(certifier.manifest, args.request);
    const request = { ...args.request, seed: p.seed };
    const dir = resolve(args.out ?? defaultOut(certifier.manifest.id, args.request));
    await mkdir(dir, { recursive: true });
    const rows = await tsvWriter(join(dir, FILES.rows), p.mode);
    const bar = evalProgressBar();
    let result: Awaited<ReturnType<typeof evaluate>>;
    try {
      result = await evaluate(
        certifier,
        dataset,
        { count: args.count, skip: args.skip, parameters: request },
        { signal, onRow: (row) => rows.write(row), onProgress: (q) => bar.update(q) },
      );
    } finally {
      bar.clear();
      await rows.close();
    }
    const summary = summarize({ certifier, dataset, result, noiseMode: args.noise, rows: FILES.rows });
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

async function readDataset(dir: string, split: Split): Promise<ImageDataset> {
  try {
    return await loadFashionMnist(dir, split);
  } catch (e) {
    if (e instanceof DatasetError) throw new UsageError(e.message);
    throw e;
  }
}
