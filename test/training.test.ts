import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certifyInput } from "../src/core/index.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";
import { referenceDir } from "./helpers/reference.js";

// Debian's interpreter: python3-torch serves it, not another python3 earlier on PATH.
const PYTHON = "/usr/bin/python3";
const run = promisify(execFile);

/** The training pipeline in --smoke mode: it must still train, export, and load in the engine. */
describe("training pipeline (--smoke)", () => {
  let dir: string;
  let zoo: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dualrs-train-"));
    zoo = join(dir, "zoo");
    await run(
      PYTHON,
      ["-m", "training.pipeline", "--smoke", "--out", zoo, "--work", join(dir, "work"), "--threads", "2"],
      { cwd: process.cwd(), maxBuffer: 64 * 2 ** 20 },
    );
  }, 600_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("has Debian's PyTorch and the Fashion-MNIST data", () => {
    expect(existsSync(PYTHON)).toBe(true);
    expect(existsSync("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")).toBe(true);
  });

  it("exports every manifest of the zoo, with models named by their sha256", async () => {
    const files = await readdir(zoo);
    const manifests = files.filter((f) => f.endsWith(".json")).sort();
    expect(manifests).toEqual([
      "fmnist-dual-denoised.json",
      "fmnist-dual-experts.json",
      "fmnist-expert-0.12.json",
      "fmnist-expert-0.25.json",
      "fmnist-expert-0.5.json",
      "fmnist-expert-1.0.json",
    ]);
    expect(files.filter((f) => f.endsWith(".onnx")).every((f) => /^[0-9a-f]{64}\.onnx$/.test(f))).toBe(true);
    expect(await readFile(join(zoo, "README.md"), "utf8")).toMatch(/fmnist-dual-experts/);
  });

  it.each([
    ["fmnist-dual-experts", "dual"],
    ["fmnist-dual-denoised", "dual"],
    ["fmnist-expert-0.25", "global"],
  ])("loads %s in the engine and certifies a %s certificate", async (id, mode) => {
    const certifier = await loadCertifier(localModelStore(zoo), id, { providers: ["cpu"] });
    try {
      const x = new Float32Array(28 * 28).fill(0.5);
      const c = await certifyInput(certifier, x, { n0: 10, n: 50, seed: 3 });
      expect(c.mode).toBe(mode);
      expect(c.certifier).toBe(id);
      expect(Object.values(c.models).every((d) => /^[0-9a-f]{64}$/.test(d))).toBe(true);
      if (mode === "dual") expect(c.stages.estimator?.n).toBe(50);
      expect(c.stages.classifier === null || c.stages.classifier.n === 50).toBe(true);
    } finally {
      await certifier.close();
    }
  });

  it("probes estimator variants on the validation images and writes what each scored", async () => {
    const work = join(dir, "work");
    await run(
      PYTHON,
      ["-m", "training.probe", "--smoke", "--work", work, "--variants", "small-threshold,wide-needs-small"],
      { cwd: process.cwd(), maxBuffer: 64 * 2 ** 20 },
    );
    const probe = JSON.parse(await readFile(join(work, "probe.json"), "utf8"));
    expect(Object.keys(probe).sort()).toEqual([
      "best_global",
      "radii",
      "sigma_e",
      "small-threshold",
      "wide-needs-small",
    ]);
    expect(probe.sigma_e).toBe(1);
    for (const name of ["small-threshold", "wide-needs-small"]) {
      const v = probe[name];
      expect(v.no_bias).toHaveLength(probe.radii.length);
      expect(v.chosen_all).toHaveLength(probe.radii.length);
      // [abstain, 0.12, 0.25, 0.5, 1.0] over the smoke budget's 50 validation images
      expect(v.chosen_routes.reduce((a: number, b: number) => a + b, 0)).toBe(50);
      expect(v["auc_p0.25"]).toBeGreaterThanOrEqual(0);
      expect(v["auc_p0.25"]).toBeLessThanOrEqual(1);
      expect(v["needs_0.25_in_top100"]).toBeLessThanOrEqual(v["needs_0.25"]);
    }
    expect(probe["small-threshold"].label_counts[1]).toBe(0); // the zoo's rule never labels 0.25
  }, 300_000);
});

/** Runs a Python snippet with the training package importable; returns its JSON output. */
async function python(code: string): Promise<unknown> {
  const { stdout } = await run(PYTHON, ["-c", code], { cwd: process.cwd() });
  return JSON.parse(stdout);
}

describe("training statistics and labels", () => {
  it("bounds pA like scipy's Clopper-Pearson, by table and by bisection over the counts", async () => {
    const worst = (await python(`
import csv, json, torch
from training.stats import cp_lower, cp_lower_exact
rows = [r for r in csv.DictReader(open(${JSON.stringify(`${referenceDir}/clopper_pearson.tsv`)}), delimiter="\t")
        if int(r["n"]) <= 1000]
err = {"table": 0.0, "exact": 0.0, "table_rows": 0, "rows": len(rows)}
for r in rows:
    k, n, alpha, want = torch.tensor([int(r["nA"])]), int(r["n"]), float(r["alpha"]), float(r["pA_lower"])
    bounds = [("exact", cp_lower_exact(k, n, alpha))]
    if n <= 12:  # the table bisects every count up to n: small n only
        bounds.append(("table", cp_lower(k, n, alpha)))
        err["table_rows"] += 1
    for name, got in bounds:
        err[name] = max(err[name], abs(float(got[0]) - want) / want if want else abs(float(got[0])))
print(json.dumps(err))`)) as { table: number; exact: number; rows: number; table_rows: number };
    expect(worst.rows).toBeGreaterThan(150);
    expect(worst.table_rows).toBeGreaterThan(10);
    expect(worst.table).toBeLessThan(1e-9);
    expect(worst.exact).toBeLessThan(1e-9);
  }, 120_000);

  it("labels the largest sigma whose radius passes threshold x sigma, and weights options by inverse frequency", async () => {
    const out = (await python(`
import json, torch
from training.certify import option_weights, threshold_labels
sigmas = [0.12, 0.25, 0.5, 1.0]
radii = torch.tensor([[0.1, 0.2, 0.9, 1.2], [0.1, 0.3, 0.8, 0.5], [0, 0, 0, 0.0], [0.1, 0.2, 0.6, 0.8]])
keep, q, best = threshold_labels(radii, 0.75, sigmas, 2)
# 0.25 as the floor: 0.5 needs a radius above 0.375 and 1.0 above 0.75, else the image goes to 0.25
low = torch.tensor([[0.1, 0.2, 0.3, 0.5], [0.1, 0.2, 0.4, 0.7], [0.1, 0.2, 0.3, 0.9]])
print(json.dumps({"keep": keep.tolist(), "q": q.tolist(), "best": best.tolist(),
                  "floor": threshold_labels(low, 0.75, sigmas, 1)[2].tolist(),
                  "w": option_weights(best, 4).tolist(), "w_half": option_weights(best, 4, 0.5).tolist()}))`)) as {
      keep: boolean[];
      q: number[][];
      best: number[];
      floor: number[];
      w: number[];
      w_half: number[];
    };
    expect(out.keep).toEqual([true, true, false, true]);
    expect(out.best).toEqual([3, 2, 3]);
    expect(out.q[1]).toEqual([0, 0, 1, 0]);
    expect(out.floor).toEqual([1, 2, 3]);
    // 3 kept inputs over the 2 options that are ever best: 3 / (2 * 1) for 0.5, 3 / (2 * 2) for 1.0
    expect(out.w).toEqual([0, 0, 1.5, 0.75]);
    expect(out.w_half[2]).toBeCloseTo(Math.sqrt(1.5), 6);
  });

  it("labels for the probe the images that need sigma = 0.25, and ranks scores by AUC", async () => {
    const out = (await python(`
import json, torch
from training.probe import auc, needs_small_labels
# radii under sigma = 0.12, 0.25, 0.5, 1.0
radii = torch.tensor([[0.0, 0.3, 0.2, 0.0],   # 0.5 unsure at r = 0.25, 0.25 sure: 0.25
                      [0.0, 0.3, 0.6, 1.2],   # 1.0 sure beyond 1.0: 1.0
                      [0.0, 0.2, 0.4, 0.5],   # otherwise 0.5
                      [0.0, 0.0, 0.0, 0.0]])  # no option certifies: dropped
keep, q, best = needs_small_labels(radii)
pos = torch.tensor([True, False, True, False])
print(json.dumps({"keep": keep.tolist(), "best": best.tolist(), "q": q[0].tolist(),
                  "separated": auc(torch.tensor([0.9, 0.1, 0.5, 0.3]), pos),
                  "one_pair_wrong": auc(torch.tensor([0.9, 0.1, 0.2, 0.5]), pos)}))`)) as {
      keep: boolean[];
      best: number[];
      q: number[];
      separated: number;
      one_pair_wrong: number;
    };
    expect(out.keep).toEqual([true, true, true, false]);
    expect(out.best).toEqual([1, 3, 2]);
    expect(out.q).toEqual([0, 1, 0, 0]);
    expect(out.separated).toBe(1);
    expect(out.one_pair_wrong).toBe(0.75);
  });

  it("counts a routing bias's Dual RS certificate as min(R_sigma, R_c), with the estimator's abstentions at 0", async () => {
    const out = (await python(`
import json, torch
from training.pipeline import routed_accuracy
# image 0: every draw prefers option 3 (sigma 1.0) to option 2 (0.5) by 0.5; image 1: draws split evenly
l0 = torch.zeros(2, 3, 4); l0[0, :, 3], l0[0, :, 2] = 1.0, 0.5; l0[1, :, 2] = 1.0; l0[1, :2, 3] = 2.0
l = torch.zeros(2, 100, 4); l[0, :, 3], l[0, :, 2] = 1.0, 0.5; l[1, :50, 2] = 1.0; l[1, 50:, 3] = 3.0
r_stage = torch.tensor([[0.0, 0.0, 1.2, 0.3], [0.0, 0.0, 2.0, 2.0]])
acc = lambda b, se=1.0: routed_accuracy(l0, l, torch.tensor([0.0, 0.0, b, 0.0]), r_stage, 0.0005, se).tolist()
print(json.dumps({"none": acc(0.0), "half": acc(1.0), "half_e05": acc(1.0, 0.5)}))`)) as Record<
      string,
      number[]
    >;
    // radii 0.25 ... 2.0; with the bias image 0 goes to sigma = 0.5: min(R_sigma = 1.45, R_c = 1.2)
    expect(out.none).toEqual([0.5, 0, 0, 0, 0, 0, 0, 0]);
    expect(out.half).toEqual([0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0]);
    // smoothed at sigma_e = 0.5 the estimator's radius halves: min(R_sigma = 0.72, R_c = 1.2)
    expect(out.half_e05).toEqual([0.5, 0.5, 0, 0, 0, 0, 0, 0]);
  });

  it("loads a SmallCNN checkpoint at its own widths, whatever Budget.expert_dims trained it with", async () => {
    const out = (await python(`
import json, torch
from training.nets import SmallCNN, from_expert, small_cnn_like
wide = SmallCNN(c1=8, c2=24, hidden=40)
est = from_expert(wide, 4)
shape = lambda n: [n.conv1.out_channels, n.conv2.out_channels, n.fc1.out_features, n.fc2.out_features]
loaded = small_cnn_like(est.state_dict())
loaded.load_state_dict(est.state_dict())
x = torch.rand(3, 1, 28, 28)
print(json.dumps({"est": shape(est), "loaded": shape(loaded),
                  "same": bool(torch.equal(loaded.eval()(x), est.eval()(x)))}))`)) as Record<string, unknown>;
    expect(out.est).toEqual([8, 24, 40, 4]);
    expect(out.loaded).toEqual([8, 24, 40, 4]);
    expect(out.same).toBe(true);
  });

  it("reads a zoo net back from its ONNX file, and exports a confidence router that starts as the zoo's estimator", async () => {
    const out = (await python(`
import json, os, tempfile, torch
from training.export import check_parity, onnx_bytes, write_content_addressed
from training.router import ConfidenceRouter, small_cnn_from_onnx, zoo_files
files = zoo_files("models")
est = small_cnn_from_onnx(os.path.join("models", files["estimator"]))
expert = small_cnn_from_onnx(os.path.join("models", files["expert-1.0"]))
router = ConfidenceRouter(est, expert).eval()
x = torch.rand(16, 1, 28, 28) + torch.randn(16, 1, 28, 28)
with torch.no_grad():
    start = float((router(x) - est(x)).abs().max())
    router.head.weight[:, 128:] = torch.randn(4, 10)  # the confidence now counts
    moved = float((router(x) - est(x)).abs().max())
router.train()
frozen = not router.expert.training
router.eval()
d = tempfile.mkdtemp()
print(json.dumps({"estimator": check_parity(os.path.join("models", files["estimator"]), est),
                  "expert": check_parity(os.path.join("models", files["expert-1.0"]), expert),
                  "frozen_eval": frozen, "trainable": [n for n, p in router.named_parameters()
                  if p.requires_grad and n.startswith("expert")],
                  "start": start, "moved": moved,
                  "router": check_parity(os.path.join(d, write_content_addressed(onnx_bytes(router.eval()), d)), router)}))`)) as Record<
      string,
      unknown
    >;
    // The exporter folded each BatchNorm into its convolution; read back, the net computes what the file does.
    expect(out.estimator).toBeLessThan(1e-4);
    expect(out.expert).toBeLessThan(1e-4);
    expect(out.frozen_eval).toBe(true);
    expect(out.trainable).toEqual([]);
    expect(out.start).toBe(0);
    expect(out.moved).toBeGreaterThan(0.01);
    expect(out.router).toBeLessThan(1e-4);
  });

  it("types --set overrides like their Budget field, and refuses a CUDA device that PyTorch does not see", async () => {
    const out = (await python(`
import json, torch
from training import device
from training.pipeline import parse_budget
out = {"budget": parse_budget(["route_biases=0,1", "val_n=20", "label_floor=0.25", "expert_dims=32,64,256"]),
       "auto": str(device.use("auto")), "has_cuda": torch.cuda.is_available()}
try:
    device.use("cuda")
except SystemExit as e:
    out["refused"] = str(e)
print(json.dumps(out))`)) as {
      budget: Record<string, unknown>;
      auto: string;
      has_cuda: boolean;
      refused?: string;
    };
    expect(out.budget).toEqual({
      route_biases: "0,1",
      val_n: 20,
      label_floor: 0.25,
      expert_dims: "32,64,256",
    });
    expect(out.auto).toBe(out.has_cuda ? "cuda" : "cpu");
    if (!out.has_cuda) expect(out.refused).toMatch(/sees no CUDA device/);
  });
});
