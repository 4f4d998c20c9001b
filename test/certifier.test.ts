import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  binomialTestHalf,
  certifyInput,
  InputError,
  type LoadedCertifier,
  lowerConfidenceBound,
  predict,
} from "../src/core/index.js";
import { type LoadedHalfSpaceZoo, loadHalfSpaceZoo, SHAPE, twoDistances } from "./helpers/halfspace.js";

let zoo: LoadedHalfSpaceZoo;
let global: LoadedCertifier;
let dual: LoadedCertifier;

beforeAll(async () => {
  zoo = await loadHalfSpaceZoo();
  ({ global, dual } = zoo);
});

afterAll(() => zoo?.close());

const small = { n0: 100, n: 2000, alpha: 0.01, seed: 5 };

describe("certification rules", () => {
  it("abstains on the decision boundary, where pA = 1/2", async () => {
    const cert = await certifyInput(global, twoDistances(0.3, 0), small);
    expect(cert.abstained).toBe(true);
    expect(cert.abstainReason).toBe("classifier");
    expect(cert.prediction).toBeNull();
    expect(cert.radius).toBe(0);
    expect(cert.stages.classifier?.pALower).toBeLessThan(0.5);
  });

  it("records counts, n0, n, the alpha share and the Clopper-Pearson bound of each stage", async () => {
    const cert = await certifyInput(dual, twoDistances(0.4, 0.3), { ...small, alphaSplit: 0.2 });
    const { estimator: e, classifier: k } = cert.stages;
    expect(e?.alpha).toBeCloseTo(0.002, 15);
    expect(k?.alpha).toBeCloseTo(0.008, 15);
    for (const s of [e, k]) {
      expect(s?.n0).toBe(100);
      expect(s?.n).toBe(2000);
      expect(s?.selectionCounts.reduce((a, x) => a + x, 0)).toBe(100);
      expect(s?.counts.reduce((a, x) => a + x, 0)).toBe(2000);
      expect(s?.pALower).toBe(lowerConfidenceBound(s?.nA ?? -1, 2000, s?.alpha ?? 0));
    }
    expect(cert.alpha).toBe(0.01);
    expect(cert.parameters.alphaSplit).toBe(0.2);
  });

  it("routes to the option the estimator certifies and takes min(R_sigma, R_c)", async () => {
    for (const [dE, dC, option] of [
      [0.3, 0.6, 1],
      [-0.6, 0.3, 0],
    ] as const) {
      const cert = await certifyInput(dual, twoDistances(dE, dC), small);
      const { estimator: e, classifier: k } = cert.stages;
      expect(e?.option?.index).toBe(option);
      expect(k?.option?.index).toBe(option);
      expect(k?.sigma).toBe(option === 1 ? 0.5 : 0.25);
      expect(cert.radius).toBe(Math.min(e?.radius ?? Number.NaN, k?.radius ?? Number.NaN));
      expect(cert.radius).toBe(Math.abs(dE) < Math.abs(dC) ? e?.radius : k?.radius);
      expect(Object.keys(cert.models).sort()).toEqual(["clf", "est"]);
    }
  });

  it("abstains when the estimator abstains, unless a fallback option is configured", async () => {
    const x = twoDistances(0, 0.5);
    const abstain = await certifyInput(dual, x, small);
    expect(abstain.abstained).toBe(true);
    expect(abstain.abstainReason).toBe("estimator");
    expect(abstain.stages.classifier).toBeNull();
    expect(abstain.radius).toBe(0);

    const fallback = await certifyInput(dual, x, { ...small, fallback: 0 });
    expect(fallback.abstained).toBe(false);
    expect(fallback.fallback).toBe(true);
    expect(fallback.radius).toBe(0);
    expect(fallback.prediction).toEqual({ index: 1, label: "positive" });
    expect(fallback.stages.classifier?.option?.index).toBe(0);
    expect(fallback.stages.classifier?.radius).toBeGreaterThan(0);
  });

  it("global mode picks the option by sigma", async () => {
    const cert = await certifyInput(dual, twoDistances(0.3, 0.6), { ...small, mode: "global", sigma: 0.25 });
    expect(cert.stages.estimator).toBeNull();
    expect(cert.stages.classifier?.sigma).toBe(0.25);
    expect(cert.parameters.sigma).toBe(0.25);
  });

  it("reports progress up to the total number of draws", async () => {
    const seen: number[] = [];
    await certifyInput(
      dual,
      twoDistances(0.3, 0.6),
      { ...small, batchSize: 500 },
      {
        onProgress: (p) => {
          expect(p.total).toBe(2 * 2100);
          seen.push(p.done);
        },
      },
    );
    expect(seen.at(-1)).toBe(4200);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("stops when its AbortSignal fires", async () => {
    const controller = new AbortController();
    const run = certifyInput(
      dual,
      twoDistances(0.3, 0.6),
      { ...small, n: 1_000_000, batchSize: 100 },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.done >= 1000) controller.abort(new Error("stop"));
        },
      },
    );
    await expect(run).rejects.toThrow("stop");
  });
});

describe("PREDICT", () => {
  const spec = { sigma: 0.5, n: 2000, alpha: 0.001, batchSize: 700, seed: 9, stage: "classifier" as const };
  const model = () => global.options[0] ?? (undefined as never);

  it("returns the class away from the boundary, with the exact two-sided binomial p-value", async () => {
    const result = await predict(model(), Float32Array.from(twoDistances(0, -0.6)), spec);
    expect(result.prediction).toBe(0);
    expect(result.nA + result.nB).toBe(2000);
    expect(result.pValue).toBe(binomialTestHalf(result.nA, result.nB));
    expect(result.pValue).toBeLessThan(1e-9);
  });

  it("abstains on the boundary, where the top two classes are equally likely", async () => {
    const result = await predict(model(), Float32Array.from(twoDistances(0, 0)), spec);
    expect(result.prediction).toBeNull();
    expect(result.pValue).toBeGreaterThan(spec.alpha);
  });
});

describe("bad input is a clear InputError naming the field", () => {
  const x = twoDistances(0.3, 0.6);
  const cases: [string, unknown[], unknown, (string | number)[]][] = [
    ["wrong length", x.slice(1), {}, ["input"]],
    ["NaN", [Number.NaN, ...x.slice(1)], {}, ["input", 0]],
    ["out of range", [...x.slice(0, 3), 11, ...x.slice(4)], {}, ["input", 3]],
    ["n0 of 0", x, { n0: 0 }, ["n0"]],
    ["n of 0", x, { n: 0 }, ["n"]],
    ["alpha of 1", x, { alpha: 1 }, ["alpha"]],
    ["unknown sigma", x, { mode: "global", sigma: 0.3 }, ["sigma"]],
    ["unknown fallback option", x, { fallback: 5 }, ["fallback"]],
    ["unknown parameter", x, { sigmaa: 1 }, []],
  ];
  for (const [name, input, parameters, path] of cases) {
    it(name, async () => {
      const run = certifyInput(dual, input as number[], parameters);
      await expect(run).rejects.toBeInstanceOf(InputError);
      await expect(run).rejects.toMatchObject({ path });
    });
  }

  it("dual mode on a certifier without an estimator", async () => {
    await expect(certifyInput(global, x, { mode: "dual" })).rejects.toMatchObject({ path: ["mode"] });
  });

  it("names the expected shape", async () => {
    await expect(certifyInput(global, [1, 2, 3], {})).rejects.toThrow(`[${SHAPE.join(", ")}]`);
  });
});
