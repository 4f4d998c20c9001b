import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManifestInput } from "../src/core/manifest.js";
import {
  loadCertifier,
  localModelStore,
  ManifestError,
  type RuntimeCertifier,
} from "../src/runtime/index.js";
import { loadConfig } from "../src/server/config.js";
import { startServer } from "../src/server/server.js";
import { linearModel, rng } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

// [C, H, W] = [3, 2, 2]: pixel j is in channel floor(j / 4).
const SHAPE = [3, 2, 2];
const DIM = 12;
const CLASSES = 4;
const mean = [0.4, 0.5, 0.6];
const std = [0.2, 0.25, 0.5];
const channel = (j: number) => Math.floor(j / 4);

const r = rng(11);
const W = Array.from({ length: DIM }, () => Array.from({ length: CLASSES }, () => r() - 0.5));
const bias = Array.from({ length: CLASSES }, () => r() - 0.5);
/** The same classifier on pixels: W z + b with z = (x - mean) / std folded into the weights. */
const foldedW = W.map((row, j) => row.map((w) => w / (std[channel(j)] as number)));
const foldedB = bias.map(
  (b, c) =>
    b -
    W.reduce(
      (s, row, j) => s + ((row[c] as number) * (mean[channel(j)] as number)) / (std[channel(j)] as number),
      0,
    ),
);

const base = {
  input: { shape: SHAPE, range: [0, 1] as [number, number] },
  labels: ["a", "b", "c", "d"],
  options: [{ sigma: 0.5, chain: ["clf"] }],
};

let dir: string;
const loaded: RuntimeCertifier[] = [];
const write = (manifest: Omit<ManifestInput, "models" | "schemaVersion">, model: Uint8Array) =>
  writeCertifier(dir, manifest, { clf: { bytes: model } });
const load = async (id: string, noise: "graph" | "host") => {
  const c = await loadCertifier(localModelStore(dir), id, { providers: ["cpu"], noise, threads: 1 });
  loaded.push(c);
  return c;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-preprocess-"));
  await write(
    {
      ...base,
      id: "normalized",
      input: { ...base.input, preprocess: { mean, std } },
      provenance: { command: "python -m training.pipeline", data: "synthetic" },
    },
    linearModel(W, bias, SHAPE),
  );
  await write({ ...base, id: "folded" }, linearModel(foldedW, foldedB, SHAPE));
  await write({ ...base, id: "raw" }, linearModel(W, bias, SHAPE));
});

afterAll(async () => {
  await Promise.all(loaded.map((c) => c.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("input.preprocess", () => {
  const x = Float32Array.from({ length: DIM }, (_, j) => ((j * 7) % 10) / 10);
  const counts = async (id: string, noise: "graph" | "host") => {
    const c = await load(id, noise);
    const batch = { x, sigma: 0.5, seed: 3, stream: 0, first: 0, count: 3000 };
    return Array.from(await (c.options[0]?.countBatch(batch) ?? new Uint32Array()));
  };

  it("normalizes the noisy draws inside the graph, with graph and host noise alike", async () => {
    const folded = await counts("folded", "graph");
    expect(await counts("normalized", "graph")).toEqual(folded);
    expect(await counts("normalized", "host")).toEqual(folded);
    // Without the normalization the same model predicts otherwise: the check above can fail.
    expect(await counts("raw", "graph")).not.toEqual(folded);
  });

  it("needs one mean and one std per channel", async () => {
    await write(
      { ...base, id: "short", input: { ...base.input, preprocess: { mean: [0.5], std: [1, 1, 1] } } },
      linearModel(W, bias, SHAPE),
    );
    await expect(localModelStore(dir).loadManifest("short")).rejects.toThrow(ManifestError);
    await expect(localModelStore(dir).loadManifest("short")).rejects.toThrow(
      /input\.preprocess\.mean: mean needs one value per channel, shape\[0\] = 3; it has 1/,
    );
    await write(
      { ...base, id: "zero", input: { ...base.input, preprocess: { mean, std: [1, 0, 1] } } },
      linearModel(W, bias, SHAPE),
    );
    await expect(localModelStore(dir).loadManifest("zero")).rejects.toThrow(/input\.preprocess\.std\[1\]/);
  });

  it("GET /certifiers/{id} shows the normalization and the provenance", async () => {
    const config = loadConfig({
      HOST: "127.0.0.1",
      PORT: "0",
      MODEL_STORE: dir,
      DATA_DIR: join(dir, "data"),
      PROVIDERS: "cpu",
      RATE_LIMIT: "0",
      WARM: "none",
    });
    const server = await startServer({ config, store: localModelStore(dir) });
    try {
      const body = await (await fetch(`${server.url}/certifiers/normalized`)).json();
      expect(body.input.preprocess).toEqual({ mean, std });
      expect(body.provenance).toEqual({ command: "python -m training.pipeline", data: "synthetic" });
      expect(body.modelProvenance).toEqual({});
      const raw = await (await fetch(`${server.url}/certifiers/raw`)).json();
      expect([raw.input.preprocess, raw.provenance]).toEqual([null, null]);
    } finally {
      await server.close();
    }
  });
});
