import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import normalCdfFn from "@stdlib/stats-base-dists-normal-cdf";
import * as ort from "onnxruntime-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ModelError } from "../src/core/errors.js";
import type { ManifestInput } from "../src/core/manifest.js";
import {
  argmaxRows,
  countPredicted,
  graphNoiseFeeds,
  IntegrityError,
  loadCertifier,
  localModelStore,
  ManifestError,
  ProviderError,
  parseProviders,
  type RuntimeCertifier,
  resolveProviders,
} from "../src/runtime/index.js";
import { halfSpaceModel, linearModel, P, shiftBySigmaModel } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

const normalCdf = (z: number) => normalCdfFn(z, 0, 1);

// Half-space w.x + b > 0 as two logits [0, w.x + b]; ||w|| = 5.
const w = [3, 4];
const b = -0.5;
const halfSpace = () => halfSpaceModel(w, b, [2]);
const base = { input: { shape: [2], range: [-1, 1] as [number, number] }, labels: ["neg", "pos"] };

let dir: string;
const loaded: RuntimeCertifier[] = [];
const load = async (...args: Parameters<typeof loadCertifier>) => {
  const c = await loadCertifier(...args);
  loaded.push(c);
  return c;
};
const write = (
  manifest: Omit<ManifestInput, "models" | "schemaVersion">,
  models: Parameters<typeof writeCertifier>[2],
) => writeCertifier(dir, manifest, models);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-runtime-"));
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await Promise.all(loaded.map((c) => c.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("model store", () => {
  it("loads a certifier by id and by path, with verified digests", async () => {
    const digests = await write(
      { ...base, id: "plain", options: [{ sigma: 0.2, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const store = localModelStore(dir);
    expect(await store.listManifests()).toContain("plain");
    for (const ref of ["plain", join(dir, "plain.json")]) {
      const c = await load(store, ref, { providers: ["cpu"] });
      expect(c.manifest.id).toBe("plain");
      expect(c.manifest.defaults.n).toBe(10_000);
      expect(c.options).toHaveLength(1);
      expect(c.options[0]?.classes).toBe(2);
      expect(c.estimator).toBeUndefined();
      expect(c.digests).toEqual(digests);
    }
  });

  it("rejects a model file whose bytes do not match its sha256 name, naming file and digests", async () => {
    const digests = await write(
      { ...base, id: "corrupt", options: [{ sigma: 0.2, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const file = join(dir, `${digests.clf}.onnx`);
    const bytes = await readFile(file);
    const fake = "0".repeat(64);
    await copyFile(file, join(dir, `${fake}.onnx`));
    const manifest = JSON.parse(await readFile(join(dir, "corrupt.json"), "utf8"));
    manifest.models.clf.file = `${fake}.onnx`;
    await writeFile(join(dir, "corrupt.json"), JSON.stringify(manifest));
    const error = await loadCertifier(localModelStore(dir), "corrupt", { providers: ["cpu"] }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain(`${fake}.onnx`);
    expect(error.message).toContain(`expected ${fake}`);
    expect(error.message).toContain(`actual ${digests.clf}`);
    expect(bytes.length).toBeGreaterThan(0);
  });

  it("rejects an invalid manifest, naming the file and the field path", async () => {
    await write(
      { ...base, id: "bad", options: [{ sigma: -1, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const error = await localModelStore(dir)
      .loadManifest("bad")
      .catch((e) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.path).toEqual(["options", 0, "sigma"]);
    expect(error.message).toContain(join(dir, "bad.json"));
    expect(error.message).toContain("options[0].sigma");

    await write(
      { ...base, id: "unknown", options: [{ sigma: 1, chain: ["nope"] }] },
      { clf: { bytes: halfSpace() } },
    );
    await expect(localModelStore(dir).loadManifest("unknown")).rejects.toThrow(
      /options\[0\]\.chain\[0\]: unknown model "nope"/,
    );
    await expect(localModelStore(dir).loadManifest("missing")).rejects.toThrow(
      /missing\.json: no such manifest/,
    );
    await expect(localModelStore(dir).loadManifest("Bad/../x")).rejects.toThrow(ManifestError);
  });
});

describe("load-time checks", () => {
  it("rejects an option chain whose class count is not the number of labels", async () => {
    await write(
      { ...base, id: "three-labels", labels: ["a", "b", "c"], options: [{ sigma: 0.2, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const error = await loadCertifier(localModelStore(dir), "three-labels", { providers: ["cpu"] }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ModelError);
    expect(error.message).toMatch(/options\[0\]\.chain/);
    expect(error.message).toMatch(/\[N, 3\]/);
  });

  it("rejects an estimator whose class count is not the number of routes", async () => {
    const three = linearModel(
      [
        [1, 0, 0],
        [0, 1, 0],
      ],
      [0, 0, 0],
      [2],
    );
    await write(
      {
        ...base,
        id: "est-routes",
        options: [
          { sigma: 0.2, chain: ["clf"] },
          { sigma: 0.4, chain: ["clf"] },
        ],
        estimator: { sigma: 0.3, chain: ["est"] },
      },
      { clf: { bytes: halfSpace() }, est: { bytes: three } },
    );
    await expect(loadCertifier(localModelStore(dir), "est-routes", { providers: ["cpu"] })).rejects.toThrow(
      /estimator\.chain \[est\].*one class per route, 2/,
    );
  });

  it("catches a class count the model leaves symbolic with a trial run", async () => {
    const model = P.ModelProto.decode(halfSpace());
    const dim = model.graph?.output?.[0]?.type?.tensorType?.shape?.dim?.[1];
    if (!dim) throw new Error("no output dim");
    dim.dimValue = null;
    dim.dimParam = "C";
    await write(
      { ...base, id: "symbolic", labels: ["a", "b", "c"], options: [{ sigma: 0.2, chain: ["clf"] }] },
      { clf: { bytes: P.ModelProto.encode(model).finish() } },
    );
    await expect(loadCertifier(localModelStore(dir), "symbolic", { providers: ["cpu"] })).rejects.toThrow(
      /options\[0\]\.chain \[clf\]: the chain outputs logits \[2, 2\] for 2 inputs; expected \[2, 3\]/,
    );
  });

  it("rejects a model whose input shape does not match input.shape", async () => {
    await write(
      { ...base, id: "wide", options: [{ sigma: 0.2, chain: ["clf"] }] },
      {
        clf: {
          bytes: linearModel(
            [
              [0, 1],
              [0, 1],
              [0, 1],
            ],
            [0, 0],
            [3],
          ),
        },
      },
    );
    await expect(loadCertifier(localModelStore(dir), "wide", { providers: ["cpu"] })).rejects.toThrow(
      /takes input \[N, 3\]; input\.shape \[2\]/,
    );
  });
});

describe("execution providers", () => {
  it("says how to get a required provider that is missing", async () => {
    await write(
      { ...base, id: "on-cuda", options: [{ sigma: 0.2, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const error = await loadCertifier(localModelStore(dir), "on-cuda", { providers: ["cuda"] }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.message).toMatch(/"cuda" is required but not available/);
    expect(error.message).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12");
    await expect(resolveProviders(["cuda", "cpu"])).rejects.toThrow(ProviderError);
  });

  it("falls back to the CPU under auto and parses lists", async () => {
    expect(await resolveProviders("auto")).toEqual(["cpu"]);
    expect(await resolveProviders(["cpu", "cpu"])).toEqual(["cpu"]);
    expect(parseProviders("auto")).toBe("auto");
    expect(parseProviders("cuda, cpu")).toEqual(["cuda", "cpu"]);
    expect(() => parseProviders("tpu")).toThrow(/unknown execution provider "tpu"/);
  });
});

for (const noise of ["host", "graph"] as const) {
  describe(`${noise} noise`, () => {
    const x = Float32Array.of(0.2, 0.1); // w.x + b = 0.5
    const options = { providers: ["cpu"] as const, noise, threads: 1 };

    it("counts a half-space's classes at the rate Phi(margin / (sigma ||w||))", async () => {
      await write(
        { ...base, id: `rate-${noise}`, options: [{ sigma: 0.2, chain: ["clf"] }] },
        { clf: { bytes: halfSpace() } },
      );
      const c = await load(localModelStore(dir), `rate-${noise}`, options);
      const model = c.options[0];
      if (!model) throw new Error("no option");
      const n = 20_000;
      const counts = await model.countBatch({ x, sigma: 0.2, seed: 11, stream: 0, first: 0, count: n });
      expect(counts).toHaveLength(2);
      expect((counts[0] ?? 0) + (counts[1] ?? 0)).toBe(n);
      const p = normalCdf(0.5 / (0.2 * 5));
      expect(Math.abs((counts[1] ?? 0) / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));

      // Draw i's noise depends on i only: two half batches count the same as one.
      const a = await model.countBatch({ x, sigma: 0.2, seed: 11, stream: 0, first: 0, count: n / 2 });
      const z = await model.countBatch({ x, sigma: 0.2, seed: 11, stream: 0, first: n / 2, count: n / 2 });
      expect([(a[0] ?? 0) + (z[0] ?? 0), (a[1] ?? 0) + (z[1] ?? 0)]).toEqual(Array.from(counts));
    });

    it("feeds sigma to a chain's denoiser", async () => {
      await write(
        { ...base, id: `denoised-${noise}`, options: [{ sigma: 0.2, chain: ["den", "clf"] }] },
        { den: { bytes: shiftBySigmaModel(2), sigmaInput: "sigma" }, clf: { bytes: halfSpace() } },
      );
      const c = await load(localModelStore(dir), `denoised-${noise}`, options);
      const n = 20_000;
      const counts = await c.options[0]?.countBatch({
        x,
        sigma: 0.2,
        seed: 3,
        stream: 1,
        first: 0,
        count: n,
      });
      // w.(x + eps - sigma 1) + b = 0.5 - 7 sigma.
      const p = normalCdf((0.5 - 7 * 0.2) / (0.2 * 5));
      expect(Math.abs((counts?.[1] ?? 0) / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    });

    it("creates one session per distinct chain, shared by the options on it", async () => {
      await write(
        {
          ...base,
          id: `shared-${noise}`,
          options: [
            { sigma: 0.2, chain: ["clf"] },
            { sigma: 0.4, chain: ["clf"] },
            { sigma: 0.4, chain: ["den", "clf"] },
          ],
        },
        { den: { bytes: shiftBySigmaModel(2), sigmaInput: "sigma" }, clf: { bytes: halfSpace() } },
      );
      const create = vi.spyOn(ort.InferenceSession, "create");
      const c = await load(localModelStore(dir), `shared-${noise}`, options);
      expect(c.options).toHaveLength(3);
      expect(c.options[0]).toBe(c.options[1]);
      expect(c.options[2]).not.toBe(c.options[0]);
      expect(create).toHaveBeenCalledTimes(2);
    });
  });
}

describe("graph and host noise", () => {
  it("draw the same noise: their counts agree up to float32 rounding at the boundary", async () => {
    await write(
      { ...base, id: "same-noise", options: [{ sigma: 0.3, chain: ["clf"] }] },
      { clf: { bytes: halfSpace() } },
    );
    const store = localModelStore(dir);
    const [host, graph] = await Promise.all(
      (["host", "graph"] as const).map((noise) => load(store, "same-noise", { providers: ["cpu"], noise })),
    );
    const batch = {
      x: Float32Array.of(0.1, 0.05),
      sigma: 0.3,
      seed: 2 ** 40 + 9,
      stream: 5,
      first: 123,
      count: 5000,
    };
    const [h, g] = await Promise.all([
      host?.options[0]?.countBatch(batch),
      graph?.options[0]?.countBatch(batch),
    ]);
    expect(Math.abs((h?.[1] ?? 0) - (g?.[1] ?? 0))).toBeLessThanOrEqual(2);
  });
});

describe("helpers", () => {
  it("takes the argmax of each row, ties to the lowest class", () => {
    expect(Array.from(argmaxRows(Float32Array.of(0, 1, 2, 5, 5, 1, -1, -2, -3), 3, 3))).toEqual([2, 0, 0]);
  });

  it("counts predicted classes from int64 or numbers and rejects classes out of range", () => {
    expect(Array.from(countPredicted(BigInt64Array.of(1n, 0n, 1n), 3))).toEqual([1, 2, 0]);
    expect(Array.from(countPredicted([2, 2], 3))).toEqual([0, 0, 2]);
    expect(() => countPredicted([3], 3)).toThrow(/class 3/);
  });

  it("splits the seed into the two words of the noise key", () => {
    const feeds = graphNoiseFeeds({
      x: Float32Array.of(1, 2),
      sigma: 0.5,
      seed: 5 * 2 ** 32 + 7,
      stream: 4,
      first: 9,
      count: 3,
    });
    expect(Array.from(feeds.key?.data as Uint32Array)).toEqual([7, 5]);
    expect(feeds.count?.type).toBe("int32");
    expect(Array.from(feeds.count?.data as Int32Array)).toEqual([3]);
    expect(feeds.x?.dims).toEqual([2]);
  });
});
