import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";

export const modelsCreateUsage = `Usage: dualrs models create --id ID --model FILE.onnx:SIGMA [--model ...] [options]

Makes a certifier of your own ONNX classifiers: copies each model into --out under its sha256
name, writes the manifest <out>/<ID>.json, loads it with a trial run, and prints what it made as
JSON. Every model takes float32 [N, ...shape] (values in --range, then normalized by --mean and
--std when given) and outputs logits [N, classes].

  --id ID                manifest id: lowercase letters, digits, '.', '_' and '-'
  --model FILE:SIGMA     a classifier and the noise level it certifies at; one for randomized
                         smoothing, one expert per sigma for Dual RS (repeat the flag)
  --estimator FILE       Dual RS: the variance estimator, whose class k routes to the k-th --model
  --sigma-e S            Dual RS: the sigma the estimator is smoothed with
  --labels L             class names: a file with one per line, or a comma list a,b,c
                         (default: the class indices 0, 1, ...)
  --shape C,H,W          shape of one input (default: read from the first model's input)
  --range LO,HI          inclusive range of input values (default 0,1)
  --mean M1,M2,...       per-channel normalization (x - mean[c]) / std[c] inside the graph,
  --std S1,S2,...        after the noise: one value per channel, the first axis of the shape
  --provenance K=V       where the models came from (training command, data, date, ...); repeat
  --title TEXT           a title for the certifier
  --out DIR              model store folder (default models)
  --force                replace a manifest of the same id
`;

export interface ModelArg {
  readonly file: string;
  readonly sigma: number;
}

export interface CreateArgs {
  id: string;
  models: ModelArg[];
  estimator?: ModelArg | undefined;
  /** From --labels; undefined: class indices. */
  labels?: string[] | undefined;
  shape?: number[] | undefined;
  range: [number, number];
  mean?: number[] | undefined;
  std?: number[] | undefined;
  provenance?: Record<string, string> | undefined;
  title?: string | undefined;
  out: string;
  force: boolean;
}

export async function parseCreateArgs(argv: string[]): Promise<CreateArgs> {
  const single = ["id", "estimator", "sigma-e", "labels", "shape", "range", "mean", "std", "title", "out"];
  let v: Record<string, string | string[] | boolean | undefined>;
  try {
    const options = {
      ...Object.fromEntries(single.map((name) => [name, { type: "string" as const }])),
      model: { type: "string" as const, multiple: true },
      provenance: { type: "string" as const, multiple: true },
      force: { type: "boolean" as const },
    };
    v = parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const s = (name: string) => v[name] as string | undefined;
  const id = s("id");
  if (!id) throw new UsageError("--id ID is required");
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(id))
    throw new UsageError(`--id: "${id}" is not lowercase letters, digits, '.', '_' and '-'`);
  const models = ((v.model as string[] | undefined) ?? []).map((m) => modelArg("model", m));
  if (models.length === 0) throw new UsageError("--model FILE.onnx:SIGMA is required");
  const sigmas = models.map((m) => m.sigma);
  const twice = sigmas.find((x, i) => sigmas.indexOf(x) !== i);
  if (twice !== undefined)
    throw new UsageError(`--model: sigma ${twice} is given twice; one model per sigma`);
  const estimatorFile = s("estimator");
  const sigmaE = s("sigma-e");
  if ((estimatorFile === undefined) !== (sigmaE === undefined))
    throw new UsageError("--estimator and --sigma-e go together");
  const estimator =
    estimatorFile === undefined
      ? undefined
      : { file: estimatorFile, sigma: positive("sigma-e", sigmaE ?? "") };
  if (estimator && models.length < 2)
    throw new UsageError(
      `--estimator routes between options: give at least two --model, not ${models.length}`,
    );
  const range = numbers("range", s("range") ?? "0,1");
  if (range.length !== 2 || !((range[0] as number) < (range[1] as number)))
    throw new UsageError(`--range: "${s("range")}" is not LO,HI with LO < HI`);
  const shape = s("shape") === undefined ? undefined : numbers("shape", s("shape") ?? "");
  if (shape && !shape.every((d) => Number.isInteger(d) && d > 0))
    throw new UsageError(`--shape: "${s("shape")}" is not positive integers C,H,W`);
  const [mean, std] = [s("mean"), s("std")].map((t, i) =>
    t === undefined ? undefined : numbers(["mean", "std"][i] as string, t),
  );
  if ((mean === undefined) !== (std === undefined)) throw new UsageError("--mean and --std go together");
  if (std?.some((x) => !(x > 0))) throw new UsageError(`--std: "${s("std")}" must be positive`);
  return {
    id,
    models,
    estimator,
    labels: s("labels") === undefined ? undefined : await readLabels(s("labels") ?? ""),
    shape,
    range: range as [number, number],
    mean,
    std,
    provenance: provenanceOf((v.provenance as string[] | undefined) ?? []),
    title: s("title"),
    out: s("out") ?? "models",
    force: v.force === true,
  };
}

/** FILE:SIGMA; the file name may hold colons itself, the sigma follows the last one. */
function modelArg(flag: string, text: string): ModelArg {
  const at = text.lastIndexOf(":");
  if (at <= 0) throw new UsageError(`--${flag}: "${text}" is not FILE.onnx:SIGMA`);
  return { file: text.slice(0, at), sigma: positive(flag, text.slice(at + 1)) };
}

function positive(flag: string, text: string): number {
  const x = Number(text);
  if (text.trim() === "" || !Number.isFinite(x) || x <= 0)
    throw new UsageError(`--${flag}: sigma "${text}" is not a positive number`);
  return x;
}

function numbers(flag: string, text: string): number[] {
  const parts = text.split(",").map((t) => t.trim());
  const xs = parts.map(Number);
  if (parts.some((t) => t === "") || !xs.every(Number.isFinite))
    throw new UsageError(`--${flag}: "${text}" is not a comma list of numbers`);
  return xs;
}

/** A file with one label per line (blank lines dropped), or else a comma list. */
async function readLabels(text: string): Promise<string[]> {
  const isFile = existsSync(text) && statSync(text).isFile();
  if (!isFile && !text.includes(","))
    throw new UsageError(`--labels: no file "${text}", and not a comma list a,b,c`);
  const raw = isFile ? (await readFile(text, "utf8")).split(/\r?\n/) : text.split(",");
  const labels = raw.map((l) => l.trim()).filter((l) => l.length > 0);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined) throw new UsageError(`--labels: "${twice}" is given twice`);
  return labels;
}

function provenanceOf(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf("=");
    if (at <= 0) throw new UsageError(`--provenance: "${p}" is not KEY=VALUE`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}
