import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certifyInput } from "../src/core/certifier.js";
import { ModelError } from "../src/core/errors.js";
import type { ManifestInput } from "../src/core/manifest.js";
import { buildNoisyClassifier, composeClassifier, GRAPH_OUTPUTS } from "../src/runtime/graph/index.js";
import {
  graphNoiseFeeds,
  loadCertifier,
  localModelStore,
  NonFiniteLogitsError,
  type RuntimeCertifier,
} from "../src/runtime/index.js";
import { buildModel, floatInput, floats, node } from "./helpers/onnx-builder.js";
import { startTestServer } from "./helpers/server.js";
import { writeCertifier } from "./helpers/zoo.js";

/*
 * ArgMax maps a NaN row to class 0, so before the graph counted non-finite rows, a model whose
 * logits were NaN was certified as class 0 at the largest radius.
 */

const labels = ["a", "b"];

/** logits = x, for inputs [N, 2]: rows of the batch come out as they go in. */
const passThrough = (opset: number) =>
  buildModel({
    opset,
    nodes: [node("Identity", ["x"], ["logits"])],
    inputs: [floatInput("x", ["N", 2])],
    outputs: [floatInput("logits", ["N", 2])],
  });

/** logits = [0, sqrt(x0) + sqrt(x1) - 1]: finite while the noisy pixels stay >= 0, NaN where one is below. */
const sqrtModel = () =>
  buildModel({
    initializers: [floats("W", [2, 2], [0, 1, 0, 1]), floats("b", [2], [0, -1])],
    nodes: [
      node("Sqrt", ["x"], ["r"]),
      node("MatMul", ["r", "W"], ["rw"]),
      node("Add", ["rw", "b"], ["logits"]),
    ],
    inputs: [floatInput("x", ["N", 2])],
    outputs: [floatInput("logits", ["N", 2])],
  });

/** logits = (x - x) / (x - x) = 0 / 0: NaN on every input. */
const nanModel = () =>
  buildModel({
    nodes: [node("Sub", ["x", "x"], ["z"]), node("Div", ["z", "z"], ["logits"])],
    inputs: [floatInput("x", ["N", 2])],
    outputs: [floatInput("logits", ["N", 2])],
  });

/** logits = (x * 0 + [1, -1]) / 0 = [+Inf, -Inf], never NaN. */
const infModel = () =>
  buildModel({
    initializers: [floats("signs", [2], [1, -1]), floats("zero", [], [0])],
    nodes: [
      node("Mul", ["x", "zero"], ["z"]),
      node("Add", ["z", "signs"], ["s"]),
      node("Div", ["s", "zero"], ["logits"]),
    ],
    inputs: [floatInput("x", ["N", 2])],
    outputs: [floatInput("logits", ["N", 2])],
  });

let dir: string;
const loaded: RuntimeCertifier[] = [];
const cpu = { providers: ["cpu"] as const, threads: 1 };

const write = (
  id: string,
  bytes: Uint8Array,
  input: ManifestInput["input"] = { shape: [2], range: [0, 1] },
  sigma = 0.1,
) => writeCertifier(dir, { id, input, labels, options: [{ sigma, chain: ["clf"] }] }, { clf: { bytes } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-non-finite-"));
});

afterAll(async () => {
  await Promise.all(loaded.map((c) => c.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("the composed graph", () => {
  const rows = Float32Array.of(
    1,
    2,
    Number.NaN,
    0,
    Number.POSITIVE_INFINITY,
    0,
    0,
    Number.NEGATIVE_INFINITY,
    3,
    1,
  );

  // Opset 11 takes ReduceSum's axes as an attribute, 17 as an input.
  for (const opset of [11, 17]) {
    it(`counts the rows holding NaN or an infinity beside the classes (opset ${opset})`, async () => {
      const bytes = composeClassifier([passThrough(opset)], [], [2]);
      const session = await ort.InferenceSession.create(bytes);
      try {
        const out = await session.run({ batch: new ort.Tensor("float32", rows, [5, 2]) });
        expect(out[GRAPH_OUTPUTS.nonFinite]?.dims).toEqual([]);
        expect(out[GRAPH_OUTPUTS.nonFinite]?.data).toEqual(BigInt64Array.of(3n));
        expect(Array.from(out[GRAPH_OUTPUTS.classes]?.data as BigInt64Array, Number)).toEqual([
          1, 0, 0, 0, 0,
        ]);
        const finite = await session.run({
          batch: new ort.Tensor("float32", Float32Array.of(1, 2, 3, 1), [2, 2]),
        });
        expect(finite[GRAPH_OUTPUTS.nonFinite]?.data).toEqual(BigInt64Array.of(0n));
      } finally {
        await session.release();
      }
    });
  }

  it("counts them in the graph that makes its own noise", async () => {
    const session = await ort.InferenceSession.create(buildNoisyClassifier([passThrough(17)], [], [2]));
    try {
      const run = async (x: Float32Array) => {
        const b = { x, sigma: 0.5, seed: 1, stream: 0, first: 0, count: 64 };
        const out = await session.run(graphNoiseFeeds(b), [GRAPH_OUTPUTS.nonFinite]);
        return out[GRAPH_OUTPUTS.nonFinite]?.data;
      };
      expect(await run(Float32Array.of(0.2, 0.1))).toEqual(BigInt64Array.of(0n));
      expect(await run(Float32Array.of(Number.NEGATIVE_INFINITY, 0))).toEqual(BigInt64Array.of(64n));
    } finally {
      await session.release();
    }
  });
});

for (const noise of ["host", "graph"] as const) {
  describe(`${noise} noise`, () => {
    const options = { ...cpu, noise };
    const load = async (id: string) => {
      const c = await loadCertifier(localModelStore(dir), id, options);
      loaded.push(c);
      return c;
    };

    it("refuses to load a model whose logits are NaN, naming the option", async () => {
      await write(`nan-${noise}`, nanModel());
      const error = await load(`nan-${noise}`).catch((e) => e);
      expect(error).toBeInstanceOf(NonFiniteLogitsError);
      expect(error).toBeInstanceOf(ModelError);
      expect(error.message).toContain(`certifier "nan-${noise}", options[0].chain [clf] at sigma 0.1`);
      expect(error.message).toContain("2 of 2 draws gave non-finite logits");
      expect([error.nonFinite, error.draws]).toEqual([2, 2]);
    });

    it("refuses to load a model whose logits are infinite", async () => {
      await write(`inf-${noise}`, infModel());
      await expect(load(`inf-${noise}`)).rejects.toThrow(NonFiniteLogitsError);
    });

    it("fails a certification whose noisy draws give NaN logits, and certifies where they do not", async () => {
      // The trial run draws around the middle of [0, 1], five sigmas from 0: every draw is finite.
      await write(`sqrt-${noise}`, sqrtModel());
      const c = await load(`sqrt-${noise}`);
      const parameters = { n0: 100, n: 2000, alpha: 0.001, seed: 7, batchSize: 500 };

      const certificate = await certifyInput(c, [0.9, 0.9], parameters);
      expect(certificate.prediction?.label).toBe("b");
      expect(certificate.radius).toBeGreaterThan(0);

      // Near 0 about half the draws have a negative pixel: before, class 0 ("a") at a large radius.
      const error = await certifyInput(c, [0.01, 0.5], parameters).catch((e) => e);
      expect(error).toBeInstanceOf(NonFiniteLogitsError);
      expect(error.message).toMatch(/^certifier "sqrt-\w+", chain \[clf\] at sigma 0\.1: \d+ of 100 draws/);
      expect(error.nonFinite).toBeGreaterThan(20);
      expect(error.nonFinite).toBeLessThan(80);
    });
  });
}

describe("the HTTP API", () => {
  it("ends a job whose draws give NaN logits as failed with /problems/model-error", async () => {
    const server = await startTestServer();
    try {
      // Written before the first request, which lists the zoo.
      const zoo = join(server.dir, "models");
      await writeCertifier(
        zoo,
        {
          id: "sqrt",
          input: { shape: [2], range: [0, 1] },
          labels,
          options: [{ sigma: 0.1, chain: ["clf"] }],
          defaults: { n0: 20, n: 200, alpha: 0.01, batchSize: 100 },
        },
        { clf: { bytes: sqrtModel() } },
      );
      const res = await server.call("/certify", {
        method: "POST",
        json: { certifier: "sqrt", input: { type: "tensor", shape: [2], data: [0.01, 0.5] } },
        headers: { Prefer: "wait=30" },
      });
      expect(res.status).toBeLessThan(300);
      let job = (await res.json()) as { id: string; status: string; certificate: unknown; error: unknown };
      for (let i = 0; i < 300 && !["succeeded", "failed", "canceled"].includes(job.status); i++) {
        await new Promise((r) => setTimeout(r, 50));
        job = (await (await server.call(`/certify/${job.id}`)).json()) as typeof job;
      }
      expect(job.status).toBe("failed");
      expect(job.certificate).toBeNull();
      expect(job.error).toMatchObject({
        type: "/problems/model-error",
        title: "Model error",
        detail: expect.stringMatching(
          /certifier "sqrt", chain \[clf\] at sigma 0\.1: \d+ of \d+ draws gave non-finite logits/,
        ),
      });
    } finally {
      await server.stop();
    }
  });
});
