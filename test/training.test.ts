import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certifyInput } from "../src/core/index.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";

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
});
