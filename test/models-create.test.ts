import { execFile, execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pngjs from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../src/cli/errors.js";
import { parseLabelsArgs, runLabels } from "../src/cli/labels.js";
import { createCertifier } from "../src/cli/models-create.js";
import { parseCreateArgs } from "../src/cli/models-create-args.js";
import type { Manifest } from "../src/core/manifest.js";
import { sampleCounts } from "../src/core/sampler.js";
import { lowerConfidenceBound, normalQuantile } from "../src/core/stats.js";
import { loadDataset } from "../src/eval/data-source.js";
import { DatasetError } from "../src/eval/errors.js";
import { seedOf } from "../src/eval/evaluate.js";
import { LABEL_COLUMNS, labelStream, parseLabelTable } from "../src/eval/label-table.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";
import { linearModel, randomLinearModel } from "./helpers/onnx-builder.js";

// Inputs [1, 4, 4]: pixel j of an image is j / 16 + its class / 4, so classes differ in brightness.
const SHAPE = [1, 4, 4];
const DIM = 16;
/** Three classes by mean brightness: logits -(mean - c)^2 up to a constant, linear in x. */
const brightness = linearModel(
  Array.from({ length: DIM }, () => [0, 1, 2].map((c) => (2 * c) / DIM)),
  [0, 1, 2].map((c) => -(c * c)),
  SHAPE,
);
const pixels = (label: number) => Array.from({ length: DIM }, (_, j) => Math.min(1, j / 64 + label / 2.5));

let dir: string;
const run = (...args: string[]) => parseCreateArgs(args).then(createCertifier);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-own-"));
  await writeFile(join(dir, "bright.onnx"), brightness);
  await writeFile(join(dir, "other.onnx"), randomLinearModel(SHAPE, 3, 5));
  await writeFile(join(dir, "five.onnx"), randomLinearModel(SHAPE, 5, 6));
  await writeFile(join(dir, "router.onnx"), randomLinearModel(SHAPE, 2, 7));
  await writeFile(join(dir, "flat.onnx"), randomLinearModel([16], 3, 8));
  await writeFile(join(dir, "junk.onnx"), Buffer.from("not a model, just some text\n"));
  await writeFile(join(dir, "labels.txt"), "dark\nmid\n\nbright\n");
  await copyFile(
    "models/118b4293e9f075c0e4b560dbdef052f5680521c854c006a57f8a1a35081ae7bd.onnx",
    join(dir, "fm.onnx"),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("dualrs models create", () => {
  it("makes a Dual RS certifier that loads, with its preprocessing and provenance", async () => {
    const store = join(dir, "store");
    const result = await run(
      ...["--id", "bright-dual", "--model", `${dir}/bright.onnx:0.25`, "--model", `${dir}/other.onnx:0.5`],
      ...["--estimator", `${dir}/router.onnx`, "--sigma-e", "0.5", "--labels", `${dir}/labels.txt`],
      ...["--mean", "0.5", "--std", "0.25", "--provenance", "data=synthetic", "--provenance", "cmd=a=b"],
      ...["--out", store],
    );
    expect(result).toMatchObject({ id: "bright-dual", shape: SHAPE, classes: 3 });
    expect(result.copied).toHaveLength(3);
    const m = await localModelStore(store).loadManifest("bright-dual");
    expect(m.labels).toEqual(["dark", "mid", "bright"]);
    expect(m.input).toEqual({ shape: SHAPE, range: [0, 1], preprocess: { mean: [0.5], std: [0.25] } });
    expect(m.options.map((o) => o.sigma)).toEqual([0.25, 0.5]);
    expect(m.estimator).toMatchObject({ sigma: 0.5, chain: ["estimator"] });
    expect(m.provenance).toEqual({ data: "synthetic", cmd: "a=b" });
    const c = await loadCertifier(localModelStore(store), "bright-dual", { providers: ["cpu"], threads: 1 });
    await c.close();
    // A second one with the same id needs --force.
    await expect(
      run("--id", "bright-dual", "--model", `${dir}/bright.onnx:0.25`, "--out", store),
    ).rejects.toThrow(/exists; give --force/);
  });

  it("reads the shape from a zoo model and the class names from a comma list", async () => {
    const labels = "a,b,c,d,e,f,g,h,i,j";
    const result = await run(
      "--id",
      "fm",
      "--model",
      `${dir}/fm.onnx:0.25`,
      "--labels",
      labels,
      "--out",
      join(dir, "zoo"),
    );
    expect(result).toMatchObject({ shape: [1, 28, 28], classes: 10, estimator: null });
  });

  it("names the file or flag at fault, and writes nothing", async () => {
    const out = ["--out", join(dir, "bad")];
    const cases: [string[], RegExp][] = [
      [["--model", `${dir}/junk.onnx:0.5`], /junk\.onnx is not an ONNX model$/],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--shape", "1,8,2"],
        /bright\.onnx takes input \[N, 1, 4, 4\]; --shape \[1, 8, 2\]/,
      ],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--model", `${dir}/flat.onnx:1`],
        /flat\.onnx takes input \[N, 16\]/,
      ],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--labels", "a,b"],
        /bright\.onnx outputs 3 classes; --labels gives 2/,
      ],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--model", `${dir}/five.onnx:1`],
        /five\.onnx outputs 5 classes/,
      ],
      [
        [
          "--model",
          `${dir}/bright.onnx:0.5`,
          "--model",
          `${dir}/other.onnx:1`,
          "--estimator",
          `${dir}/five.onnx`,
          "--sigma-e",
          "1",
        ],
        /five\.onnx outputs 5 classes; an estimator routes class k to the k-th --model, so it needs 2/,
      ],
      [["--model", `${dir}/bright.onnx:0.5`, "--range", "1,0"], /--range: "1,0" is not LO,HI with LO < HI/],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--mean", "0.5,0.5", "--std", "1,1"],
        /--mean: 2 values for 1 channels/,
      ],
      [["--model", `${dir}/bright.onnx:0.5`, "--std", "1"], /--mean and --std go together/],
      [
        ["--model", `${dir}/bright.onnx:0.5`, "--estimator", `${dir}/router.onnx`, "--sigma-e", "1"],
        /at least two --model/,
      ],
      [["--model", `${dir}/bright.onnx`], /is not FILE\.onnx:SIGMA/],
      [["--model", `${dir}/missing.onnx:1`], /cannot read .*missing\.onnx: no such file/],
    ];
    for (const [args, message] of cases) {
      const error = await run("--id", "bad", ...args, ...out).catch((e: unknown) => e);
      expect(error, args.join(" ")).toBeInstanceOf(UsageError);
      expect((error as Error).message, args.join(" ")).toMatch(message);
    }
    await expect(readFile(join(dir, "bad", "bad.json"))).rejects.toThrow();
  });

  it("exits 2 with one line from the command line", async () => {
    const r = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(
        "npx",
        [
          "tsx",
          "src/cli/index.ts",
          "models",
          "create",
          "--id",
          "x",
          "--model",
          `${dir}/junk.onnx:1`,
          "--out",
          dir,
        ],
        (error, _stdout, stderr) => done({ code: error ? Number(error.code) : 0, stderr }),
      ),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`dualrs: ${dir}/junk.onnx is not an ONNX model\n`);
  });
});

/** Writes arrays with numpy itself, so the reader meets real .npz files. */
function savez(file: string, code: string): void {
  execFileSync("/usr/bin/python3", ["-c", `import numpy as np\n${code}\n`], {
    env: { ...process.env, OUT: file },
  });
}

describe("data layouts", () => {
  let manifest: Manifest;
  const labels = [2, 0, 1, 2, 1];
  const images = labels.map(pixels);

  beforeAll(async () => {
    await run(
      "--id",
      "bright",
      "--model",
      `${dir}/bright.onnx:0.25`,
      "--model",
      `${dir}/other.onnx:0.5`,
      "--labels",
      "dark,mid,bright",
      "--out",
      join(dir, "data-store"),
    );
    manifest = await localModelStore(join(dir, "data-store")).loadManifest("bright");
    const x = JSON.stringify(images);
    savez(
      join(dir, "nchw.npz"),
      `x = np.array(${x}, dtype=np.float64).reshape(5, 1, 4, 4); np.savez(__import__("os").environ["OUT"], x=np.round(x * 255).astype(np.uint8), y=np.array(${JSON.stringify(labels)}, dtype=np.int64))`,
    );
    savez(
      join(dir, "nhwc.npz"),
      `x = np.array(${x}, dtype=np.float32).reshape(5, 4, 4, 1); np.savez_compressed(__import__("os").environ["OUT"], x=x, y=np.array(${JSON.stringify(labels)}, dtype=np.int32))`,
    );
    savez(
      join(dir, "bad-y.npz"),
      `np.savez(__import__("os").environ["OUT"], x=np.zeros((2, 1, 4, 4), np.uint8), y=np.array([0, 7]))`,
    );
    // An image folder: classes in sorted order, files sorted within each.
    for (const [i, label] of labels.entries()) {
      const name = manifest.labels[label] as string;
      await mkdir(join(dir, "folder", name), { recursive: true });
      const png = new pngjs.PNG({ width: 4, height: 4 });
      (images[i] as number[]).forEach((v, j) => {
        png.data.set([Math.round(v * 255), Math.round(v * 255), Math.round(v * 255), 255], 4 * j);
      });
      await writeFile(join(dir, "folder", name, `img-${i}.png`), pngjs.PNG.sync.write(png));
    }
    await mkdir(join(dir, "stray", "purple"), { recursive: true });
    await mkdir(join(dir, "stray", "dark"), { recursive: true });
  });

  it("reads a .npz channels first (uint8) and channels last (float), as the labels say", async () => {
    for (const file of ["nchw.npz", "nhwc.npz"]) {
      const data = await loadDataset(join(dir, file), "test", manifest);
      expect(data.size).toBe(5);
      expect(Array.from({ length: 5 }, (_, i) => data.label(i))).toEqual(labels);
      for (const [i, image] of images.entries()) {
        const got = Array.from(data.image(i));
        for (const [j, v] of got.entries()) expect(v).toBeCloseTo(image[j] as number, 2);
      }
    }
  });

  it("reads an image folder in ImageFolder's order, class names matched to the labels", async () => {
    const data = await loadDataset(join(dir, "folder"), "test", manifest);
    // Folders sorted: bright (2), dark (0), mid (1); files sorted within each.
    const order = [0, 3, 1, 2, 4];
    expect(Array.from({ length: 5 }, (_, i) => data.label(i))).toEqual(order.map((i) => labels[i]));
    for (const [j, v] of data.image(0).entries()) expect(v).toBeCloseTo(images[0]?.[j] as number, 2);
  });

  it("says what does not fit", async () => {
    await expect(loadDataset(join(dir, "stray"), "test", manifest)).rejects.toThrow(
      /class folders "purple" are not labels of certifier "bright" \(dark, mid, bright\)/,
    );
    await expect(loadDataset(join(dir, "bad-y.npz"), "test", manifest)).rejects.toThrow(
      /y\[1\] = 7 is no class/,
    );
    const other = { ...manifest, input: { ...manifest.input, shape: [3, 4, 4] } };
    await expect(loadDataset(join(dir, "nchw.npz"), "test", other)).rejects.toThrow(
      /x has shape \(5, 1, 4, 4\); certifier "bright" takes \[3, 4, 4\]/,
    );
    await expect(loadDataset(join(dir, "nope.npz"), "test", manifest)).rejects.toThrow(DatasetError);
  });

  it("dualrs labels: one row per (image, option), the engine's counts and stats, resumable", async () => {
    const out = join(dir, "labels.tsv");
    const argv = ["--manifest", join(dir, "data-store", "bright.json"), "--data", join(dir, "nchw.npz")];
    const args = parseLabelsArgs([
      ...argv,
      "--out",
      out,
      "--n",
      "300",
      "--count",
      "4",
      "--seed",
      "5",
      "--providers",
      "cpu",
      "--threads",
      "1",
      "--batch-size",
      "128",
    ]);
    const signal = new AbortController().signal;
    await runLabels(args, signal);
    const text = await readFile(out, "utf8");
    expect(text.split("\n")[0]).toBe(LABEL_COLUMNS.join("\t"));
    const rows = parseLabelTable(text);
    expect(rows.map((r) => [r.index, r.label, r.option, r.sigma, r.n])).toEqual(
      [0, 1, 2, 3].flatMap((i) => [0, 1].map((k) => [i, labels[i], k, [0.25, 0.5][k], 300])),
    );
    // nA is the engine's count of the true label with the documented seed and stream.
    const certifier = await loadCertifier(localModelStore(join(dir, "data-store")), "bright", {
      providers: ["cpu"],
      threads: 1,
    });
    const data = await loadDataset(join(dir, "nchw.npz"), "train", manifest);
    try {
      for (const r of rows) {
        const spec = {
          x: data.image(r.index),
          sigma: r.sigma,
          seed: seedOf(5, r.index),
          stream: labelStream(r.option),
          num: 300,
          batchSize: 300,
        };
        const counts = await sampleCounts(certifier.options[r.option] as never, spec);
        expect(r.nA).toBe(counts[r.label]);
        const pA = lowerConfidenceBound(r.nA, 300, 0.05);
        expect(r.pALower).toBe(pA);
        expect(r.radius).toBe(pA > 0.5 ? r.sigma * normalQuantile(pA) : 0);
      }
    } finally {
      await certifier.close();
    }
    expect(rows.some((r) => r.radius > 0) && rows.some((r) => r.nA < 300)).toBe(true);

    // Cut short in the middle of image 2's second row: resuming gives the very same file.
    const cut = text.slice(0, text.indexOf(`2\t${labels[2]}\t1\t`) + 5);
    await writeFile(out, cut);
    await runLabels({ ...args, resume: true }, signal);
    expect(await readFile(out, "utf8")).toBe(text);
    // Another n does not go on with this table.
    await expect(runLabels({ ...args, n: 200, resume: true }, signal)).rejects.toThrow(/another n;/);
  });
});
