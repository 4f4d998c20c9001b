import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { type ManifestInput, Manifest as ManifestSchema } from "../core/manifest.js";
import { loadCertifier } from "../runtime/certifier.js";
import { GraphError } from "../runtime/graph/proto.js";
import { localModelStore } from "../runtime/model-store.js";
import { probeClasses } from "../runtime/probe.js";
import { readSignature } from "../runtime/signature.js";
import { UsageError } from "./errors.js";
import type { CreateArgs, ModelArg } from "./models-create-args.js";

export interface CreateResult {
  /** Path of the manifest written. */
  manifest: string;
  id: string;
  shape: number[];
  classes: number;
  /** Model name -> file in the store. */
  models: Record<string, string>;
  /** Model files this run added to the store (the others were there already). */
  copied: string[];
  options: { sigma: number; model: string }[];
  estimator: { sigma: number; model: string } | null;
}

/** A model file read and looked at: its bytes and the input dims it declares. */
interface Inspected {
  readonly arg: ModelArg;
  readonly bytes: Uint8Array;
  readonly inputDims: readonly (number | string)[] | null;
  readonly digest: string;
}

/**
 * `dualrs models create`: checks every model against the shape, range, labels and options the
 * flags give (each error names the file or the flag), writes the models and the manifest into
 * the store, and loads the certifier with a trial run; a certifier that fails to load is removed.
 */
export async function createCertifier(args: CreateArgs): Promise<CreateResult> {
  const models = await Promise.all(args.models.map(inspect));
  const estimator = args.estimator ? await inspect(args.estimator) : undefined;
  const first = models[0] as Inspected;
  const shape = args.shape ?? shapeFrom(first);
  for (const m of [...models, ...(estimator ? [estimator] : [])])
    checkInput(m, shape, args.shape !== undefined);
  const preprocess = args.mean && args.std ? { mean: args.mean, std: args.std } : undefined;
  for (const [flag, values] of Object.entries(preprocess ?? {})) {
    if (values.length !== shape[0])
      throw new UsageError(
        `--${flag}: ${values.length} values for ${shape[0]} channels (the first axis of [${shape.join(", ")}])`,
      );
  }
  const classesOf = (m: Inspected) =>
    probeClasses(m.bytes, shape, args.range, preprocess).catch((e: unknown) => {
      throw new UsageError(`${m.arg.file}: ${(e as Error).message}`);
    });
  const classes = await Promise.all(models.map(classesOf));
  const labels = args.labels ?? Array.from({ length: classes[0] ?? 0 }, (_, i) => String(i));
  models.forEach((m, i) => {
    if (classes[i] !== labels.length) {
      const given = args.labels
        ? `--labels gives ${labels.length}`
        : `${first.arg.file} outputs ${labels.length}`;
      throw new UsageError(`${m.arg.file} outputs ${classes[i]} classes; ${given}`);
    }
  });
  if (labels.length < 2)
    throw new UsageError(`a classifier needs at least 2 classes; ${first.arg.file} outputs ${labels.length}`);
  if (estimator) {
    const routes = await classesOf(estimator);
    if (routes !== models.length) {
      throw new UsageError(
        `${estimator.arg.file} outputs ${routes} classes; an estimator routes class k to the k-th --model, so it needs ${models.length}`,
      );
    }
  }

  const names = models.map((m) => `sigma-${m.arg.sigma}`);
  const entry = (m: Inspected) => ({ file: `${m.digest}.onnx`, description: `from ${basename(m.arg.file)}` });
  const manifest: ManifestInput = {
    schemaVersion: 1,
    id: args.id,
    ...(args.title ? { title: args.title } : {}),
    input: { shape, range: args.range, ...(preprocess ? { preprocess } : {}) },
    labels,
    models: Object.fromEntries([
      ...models.map((m, i) => [names[i], entry(m)]),
      ...(estimator ? [["estimator", entry(estimator)]] : []),
    ]),
    options: models.map((m, i) => ({
      sigma: m.arg.sigma,
      chain: [names[i] as string],
      name: basename(m.arg.file).replace(/\.onnx$/i, ""),
    })),
    ...(estimator ? { estimator: { sigma: estimator.arg.sigma, chain: ["estimator"] } } : {}),
    ...(args.provenance ? { provenance: args.provenance } : {}),
  };
  const parsed = ManifestSchema.safeParse(manifest);
  if (!parsed.success)
    throw new UsageError(
      `invalid certifier: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );

  const out = resolve(args.out);
  const path = join(out, `${args.id}.json`);
  if (existsSync(path) && !args.force) throw new UsageError(`${path} exists; give --force to replace it`);
  await mkdir(out, { recursive: true });
  const copied: string[] = [];
  for (const m of [...models, ...(estimator ? [estimator] : [])]) {
    const file = join(out, `${m.digest}.onnx`);
    if (existsSync(file) || copied.includes(file)) continue;
    await writeFile(file, m.bytes);
    copied.push(file);
  }
  // The manifest last, in one rename: a reader never sees it before its models.
  await writeFile(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
  try {
    const certifier = await loadCertifier(localModelStore(out), args.id, { providers: ["cpu"], threads: 1 });
    await certifier.close();
  } catch (e) {
    await Promise.all([path, ...copied].map((f) => rm(f, { force: true })));
    throw new UsageError(`the certifier fails its trial run, nothing written: ${(e as Error).message}`);
  }
  return {
    manifest: path,
    id: args.id,
    shape,
    classes: labels.length,
    models: Object.fromEntries(Object.entries(parsed.data.models).map(([name, e]) => [name, e.file])),
    copied: copied.map((f) => basename(f)),
    options: parsed.data.options.map((o) => ({ sigma: o.sigma, model: o.chain[0] as string })),
    estimator: estimator ? { sigma: estimator.arg.sigma, model: "estimator" } : null,
  };
}

async function inspect(arg: ModelArg): Promise<Inspected> {
  const bytes = await readFile(arg.file).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(
      `cannot read ${arg.file}: ${e.code === "ENOENT" ? "no such file" : (e.code ?? e.message)}`,
    );
  });
  let inputDims: Inspected["inputDims"];
  try {
    const signature = readSignature(bytes, arg.file);
    if (signature.inputs.length !== 1) {
      const names = signature.inputs.map((i) => i.name).join(", ");
      throw new UsageError(
        `${arg.file} takes ${signature.inputs.length} inputs (${names}); a model here takes one, [N, ...shape]`,
      );
    }
    inputDims = signature.inputs[0]?.dims ?? null;
  } catch (e) {
    if (e instanceof GraphError) throw new UsageError(e.message);
    throw e;
  }
  return { arg, bytes, inputDims, digest: createHash("sha256").update(bytes).digest("hex") };
}

/** The shape one input has, from the model's declared input [N, ...shape]. */
function shapeFrom(m: Inspected): number[] {
  const inner = m.inputDims?.slice(1) ?? [];
  if (!m.inputDims || inner.length === 0 || !inner.every((d): d is number => typeof d === "number")) {
    const declared = m.inputDims ? `[${m.inputDims.join(", ")}]` : "no shape";
    throw new UsageError(`${m.arg.file} declares input ${declared}: give --shape C,H,W`);
  }
  return inner;
}

function checkInput(m: Inspected, shape: readonly number[], fromFlag: boolean): void {
  const dims = m.inputDims;
  if (!dims) return;
  const fits =
    dims.length === shape.length + 1 &&
    dims.slice(1).every((d, i) => typeof d !== "number" || d === shape[i]);
  if (!fits) {
    const source = fromFlag ? "--shape" : "the first --model's input shape";
    throw new UsageError(
      `${m.arg.file} takes input [${dims.join(", ")}]; ${source} [${shape.join(", ")}] needs [N, ${shape.join(", ")}]`,
    );
  }
}
