import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Manifest } from "../src/core/manifest.js";
import { parseTsv } from "../src/eval/tsv.js";
import { loadConfig } from "../src/server/config.js";
import { startServer } from "../src/server/server.js";

/**
 * docs/own-models.md at smoke size, from files this test writes: an image folder of coloured 32 x 32
 * Fashion-MNIST images under other class names, experts and an estimator trained on it, certifiers
 * made with `dualrs models create`, evaluated, and served from their model store over HTTP.
 */

// Debian's interpreter: python3-torch and python3-pil serve it, not another python3 earlier on PATH.
const PYTHON = "/usr/bin/python3";
const exec = promisify(execFile);
const CLASSES = ["bag", "sandal", "sneaker", "top", "trousers"]; // the folders, in sorted order
const TRAIN_PER_CLASS = 60;
const TEST_IMAGES = 10;
const SIGMAS = [0.25, 0.5];

const python = async (...args: string[]) =>
  (await exec(PYTHON, args, { cwd: process.cwd(), maxBuffer: 64 * 2 ** 20 })).stdout;
/** A TypeScript entry point as `npm run dualrs` runs the CLI (tsx), without npm's start-up. */
const tsx = async (...args: string[]) =>
  (
    await exec(process.execPath, ["--import", "tsx", ...args], {
      cwd: process.cwd(),
      maxBuffer: 64 * 2 ** 20,
    })
  ).stdout;
const dualrs = (...args: string[]) => tsx("src/cli/index.ts", ...args);

/**
 * Fashion-MNIST classes 0, 1, 5, 7 and 8 under other names, each image tinted a random colour and
 * padded to 3 x 32 x 32 at a random offset: 60 training and 2 test images per class as PNG files.
 */
const MAKE_IMAGES = `
import os, sys, numpy as np
from PIL import Image
from training import data
names = {0: "top", 1: "trousers", 5: "sandal", 7: "sneaker", 8: "bag"}
root = sys.argv[1]
for split, per_class in (("train", ${TRAIN_PER_CLASS}), ("test", ${TEST_IMAGES / 5})):
    s = data.load(split)
    rng = np.random.default_rng(0 if split == "train" else 1)
    taken = {c: 0 for c in names}
    for i in range(len(s)):
        c = int(s.y[i])
        if c not in names or taken[c] == per_class:
            continue
        taken[c] += 1
        grey = s.x[i, 0].numpy()[:, :, None] * rng.uniform(0.3, 1.0, 3)
        rgb = np.zeros((32, 32, 3), np.uint8)
        dy, dx = rng.integers(0, 5, 2)
        rgb[dy:dy + 28, dx:dx + 28] = np.round(255 * grey).astype(np.uint8)
        os.makedirs(os.path.join(root, split, names[c]), exist_ok=True)
        Image.fromarray(rgb).save(os.path.join(root, split, names[c], f"{i:05d}.png"))
`;

let dir: string;
const path = (...p: string[]) => join(dir, ...p);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-own-"));
  await python("-c", MAKE_IMAGES, path("data"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("bring your own model (docs/own-models.md)", () => {
  const store = () => path("store");
  const mean: number[] = [];
  const std: number[] = [];

  it("trains one expert per sigma on the image folder and exports each as ONNX", async () => {
    await python(
      ...["-m", "training.experts", "--data", path("data", "train"), "--test", path("data", "test")],
      ...["--sigmas", SIGMAS.join(","), "--epochs", "1", "--batch", "32", "--normalize"],
      ...["--out", path("work"), "--device", "cpu"],
    );
    const info = JSON.parse(await readFile(path("work", "experts.json"), "utf8"));
    expect(info.shape).toEqual([3, 32, 32]);
    expect(info.classes).toEqual(CLASSES);
    expect(await readFile(path("work", "labels.txt"), "utf8")).toBe(`${CLASSES.join("\n")}\n`);
    expect(Object.keys(info.experts)).toEqual(["expert-0.25", "expert-0.5"]);
    for (const e of Object.values(info.experts) as { onnx_max_abs_diff: number; noisy_accuracy: number }[]) {
      expect(e.onnx_max_abs_diff).toBeLessThan(1e-4); // checked against onnxruntime-node
      expect(e.noisy_accuracy).toBeGreaterThanOrEqual(0);
    }
    // per-channel statistics of the tinted images: dark, mostly padding and background
    expect(info.mean).toHaveLength(3);
    for (const m of info.mean) expect(m).toBeGreaterThan(0.02);
    for (const m of info.mean) expect(m).toBeLessThan(0.5);
    mean.push(...info.mean);
    std.push(...info.std);
  }, 120_000);

  it("makes the experts a global certifier, with their normalization", async () => {
    await dualrs(
      ...["models", "create", "--id", "own-experts"],
      ...SIGMAS.flatMap((s) => ["--model", `${path("work", `expert-${s}.onnx`)}:${s}`]),
      ...["--labels", path("work", "labels.txt"), "--shape", "3,32,32", "--range", "0,1"],
      ...["--mean", mean.join(","), "--std", std.join(","), "--provenance", "data=fashion-mnist-tinted"],
      ...["--out", store()],
    );
    const m = Manifest.parse(JSON.parse(await readFile(path("store", "own-experts.json"), "utf8")));
    expect(m.labels).toEqual(CLASSES);
    expect(m.input).toEqual({ shape: [3, 32, 32], range: [0, 1], preprocess: { mean, std } });
    expect(m.options.map((o) => o.sigma)).toEqual(SIGMAS);
    expect(m.estimator).toBeUndefined();
    expect(m.provenance).toEqual({ data: "fashion-mnist-tinted" });
    const info = JSON.parse(await readFile(path("work", "experts.json"), "utf8"));
    const files = m.options.map((o) => m.models[o.chain[0] as string]?.file);
    expect(files).toEqual(SIGMAS.map((s) => `${info.experts[`expert-${s}`].sha256}.onnx`));
  }, 60_000);

  it("labels training images with each option's radius on the true class", async () => {
    await dualrs(
      ...["labels", "--manifest", path("store", "own-experts.json"), "--data", path("data", "train")],
      ...["--out", path("work", "labels.tsv"), "--n", "16", "--alpha", "0.05", "--seed", "0"],
    );
    const text = await readFile(path("work", "labels.tsv"), "utf8");
    const [head, ...lines] = text.trim().split("\n");
    expect(head?.split("\t")).toEqual(["index", "label", "option", "sigma", "nA", "n", "pA_lower", "radius"]);
    const rows = lines.map((l) => l.split("\t"));
    expect(rows).toHaveLength(5 * TRAIN_PER_CLASS * SIGMAS.length); // every training image, every option
    for (const [index, label, option, sigma, nA, n, pA, radius] of rows) {
      // the image folder's order: class by class, in sorted order
      expect(Number(label)).toBe(Math.floor(Number(index) / TRAIN_PER_CLASS));
      expect(SIGMAS[Number(option)]).toBe(Number(sigma)); // options by index, in the manifest's order
      expect(Number(n)).toBe(16);
      expect(Number(nA)).toBeLessThanOrEqual(16);
      expect(Number(radius) > 0).toBe(Number(pA) > 0.5);
    }
  }, 120_000);

  it("trains the variance estimator on the label table and makes the Dual RS certifier", async () => {
    await python(
      ...[
        "-m",
        "training.estimator",
        "--data",
        path("data", "train"),
        "--labels",
        path("work", "labels.tsv"),
      ],
      ...["--sigma-e", "0.5", "--init", path("work", "expert-0.5.pt"), "--epochs", "1"],
      ...["--out", path("work", "estimator.onnx"), "--device", "cpu"],
    );
    const est = JSON.parse(await readFile(path("work", "estimator.json"), "utf8"));
    expect(est.options).toEqual([
      { name: "0", sigma: 0.25 },
      { name: "1", sigma: 0.5 },
    ]);
    expect(est.mean).toEqual(mean); // kept from the expert it started from
    expect(est.labelled).toBe(5 * TRAIN_PER_CLASS);
    expect(est.kept).toBeLessThanOrEqual(est.labelled);
    expect(est.onnx_max_abs_diff).toBeLessThan(1e-4);

    await dualrs(
      ...["models", "create", "--id", "own-dual"],
      ...SIGMAS.flatMap((s) => ["--model", `${path("work", `expert-${s}.onnx`)}:${s}`]),
      ...["--estimator", path("work", "estimator.onnx"), "--sigma-e", "0.5"],
      ...["--labels", path("work", "labels.txt"), "--shape", "3,32,32", "--range", "0,1"],
      ...["--mean", mean.join(","), "--std", std.join(","), "--out", store()],
    );
    const m = Manifest.parse(JSON.parse(await readFile(path("store", "own-dual.json"), "utf8")));
    expect(m.estimator?.sigma).toBe(0.5);
    expect(m.models[m.estimator?.chain[0] as string]?.file).toBe(`${est.sha256}.onnx`);
    expect(m.options.map((o) => o.sigma)).toEqual(SIGMAS);
  }, 120_000);

  it("evaluates Dual RS beside each global option and the oracle on the held-out images", async () => {
    const common = ["--data", path("data", "test"), "--count", String(TEST_IMAGES), "--seed", "0"];
    const certify = [
      "--manifest",
      path("store", "own-dual.json"),
      "--n0",
      "20",
      "--n",
      "100",
      "--providers",
      "cpu",
    ];
    await dualrs("evaluate", ...certify, ...common, "--out", path("eval", "dual"));
    for (const s of SIGMAS) {
      const global = ["--mode", "global", "--sigma", String(s), "--out", path("eval", `global-${s}`)];
      await dualrs("evaluate", ...certify, ...common, ...global);
    }
    const rows = parseTsv(await readFile(path("eval", "dual", "certify.tsv"), "utf8"));
    expect(rows.map((r) => r.idx)).toEqual([...Array(TEST_IMAGES).keys()]);
    expect(rows.map((r) => r.label)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    for (const r of rows) {
      expect(r.dual).toBeDefined();
      expect(r.predict).toBeGreaterThanOrEqual(-1);
      expect(r.predict).toBeLessThan(CLASSES.length);
      expect(r.radius).toBeLessThanOrEqual(Math.min(r.dual?.rSigma ?? 0, r.dual?.rC ?? 0) + 1e-12);
      if (r.dual?.sigma !== null) expect(SIGMAS).toContain(r.dual?.sigma);
    }
    // the per-input TSVs side by side, with the oracle over the global runs
    const runs = [path("eval", "global-0.25"), path("eval", "global-0.5"), path("eval", "dual")];
    await tsx("bench/compare.ts", "--out", path("eval"), ...runs);
    const table = (await readFile(path("eval", "table.md"), "utf8")).trim().split("\n").slice(2);
    expect(table.map((l) => l.split("|")[1]?.trim())).toEqual([
      "own-dual (global, σ = 0.25)",
      "own-dual (global, σ = 0.5)",
      "own-dual (dual)",
      "oracle (best of σ = 0.25, 0.5)",
    ]);
    // the oracle takes each image's best global radius: never below either global run
    const at0 = table.map((l) => Number(l.split("|")[2]));
    expect(at0[3]).toBeGreaterThanOrEqual(Math.max(at0[0] as number, at0[1] as number));
    expect((await readFile(path("eval", "certified-accuracy.png"))).subarray(1, 4).toString()).toBe("PNG");
  }, 180_000);

  it("serves the new certifier from its model store: a PNG certified over HTTP as evaluate certified it", async () => {
    const server = await startServer({
      config: loadConfig({
        HOST: "127.0.0.1",
        PORT: "0",
        MODEL_STORE: store(),
        DATA_DIR: path("server-data"),
        PROVIDERS: "cpu",
        RATE_LIMIT: "0",
        WARM: "none",
      }),
    });
    try {
      const described = await (await fetch(`${server.url}/certifiers/own-dual`)).json();
      expect(described.labels).toEqual(CLASSES);
      const rows = parseTsv(await readFile(path("eval", "dual", "certify.tsv"), "utf8"));
      // test images 2 and 3 are the sandals (the folders in sorted order, files in name order)
      const files = (await readdir(path("data", "test", "sandal"))).sort();
      for (const [k, file] of files.entries()) {
        const i = 2 + k;
        const png = await readFile(path("data", "test", "sandal", file));
        const res = await fetch(`${server.url}/certify`, {
          method: "POST",
          headers: { "content-type": "application/json", prefer: "wait=60" },
          body: JSON.stringify({
            certifier: "own-dual",
            input: { type: "image", data: png.toString("base64") },
            parameters: { n0: 20, n: 100, seed: i }, // evaluate --seed 0 certifies image i with seed i
          }),
        });
        expect(res.status).toBe(200);
        const job = await res.json();
        expect(job.input.shape).toEqual([3, 32, 32]);
        const c = job.certificate;
        expect(c.mode).toBe("dual");
        expect(c.certifier).toBe("own-dual");
        if (c.prediction !== null) expect(CLASSES).toContain(c.prediction.label);
        const row = rows[i];
        expect(c.prediction?.index ?? -1).toBe(row?.predict);
        expect(c.abstained ? 0 : c.radius).toBeCloseTo(row?.radius ?? Number.NaN, 12);
      }
    } finally {
      await server.close();
    }
  }, 120_000);
});
