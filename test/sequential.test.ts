import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Certificate,
  certifyInput,
  InputError,
  type LoadedCertifier,
  lookSchedule,
  lowerConfidenceBound,
  type NoisyClassifier,
  radiusCap,
  type StageReport,
  upperConfidenceBound,
} from "../src/core/index.js";
import {
  binomialUpper,
  type LoadedHalfSpaceZoo,
  loadHalfSpaceZoo,
  twoDistances,
} from "./helpers/halfspace.js";

/* Sequential sampling (docs/sequential.md) on the half-space certifiers, whose exact radii are known. */

let zoo: LoadedHalfSpaceZoo;
let global: LoadedCertifier;
let dual: LoadedCertifier;

beforeAll(async () => {
  zoo = await loadHalfSpaceZoo();
  ({ global, dual } = zoo);
});

afterAll(() => zoo?.close());

const certifierOf = (id: string) => (id === "halfspace" ? global : dual);

describe("the schedule", () => {
  it("doubles up to n from a first look of at least 100 draws", () => {
    expect(lookSchedule(10_000)).toEqual([157, 313, 625, 1250, 2500, 5000, 10_000]);
    expect(lookSchedule(400)).toEqual([100, 200, 400]);
    expect(lookSchedule(150)).toEqual([150]);
    for (const n of [1, 99, 200, 1234, 99_999, 1_000_000]) {
      const looks = lookSchedule(n);
      expect(looks.at(-1)).toBe(n);
      expect(looks[0]).toBeGreaterThanOrEqual(Math.min(n, 100));
      for (let k = 1; k < looks.length; k++) expect(looks[k]).toBeGreaterThan(looks[k - 1] ?? 0);
    }
  });

  it("caps a radius at the Clopper-Pearson bound of n agreeing draws, alpha^(1/n)", () => {
    expect(lowerConfidenceBound(400, 400, 0.05)).toBeCloseTo(0.05 ** (1 / 400), 12);
    expect(radiusCap(0.25, 400, 0.05)).toBeCloseTo(0.25 * 2.4341, 3);
  });

  it("the upper bound mirrors the lower one", () => {
    for (const [nA, n, a] of [
      [3, 100, 0.01],
      [950, 1000, 0.001],
      [0, 50, 0.1],
    ] as const) {
      expect(upperConfidenceBound(nA, n, a)).toBeCloseTo(1 - lowerConfidenceBound(n - nA, n, a), 12);
    }
    expect(upperConfidenceBound(10, 10, 0.01)).toBe(1);
  });
});

describe("default parameters are fixed n, draw for draw", () => {
  it("gives the certificates the engine gave before sequential sampling existed", async () => {
    const cases = JSON.parse(
      await readFile(new URL("./reference/fixed-n-certificates.json", import.meta.url), "utf8"),
    ) as {
      certifier: string;
      distances: [number, number];
      parameters: { n0: number; n: number };
      radius: number;
      stages: Certificate["stages"];
    }[];
    expect(cases).toHaveLength(4);
    for (const c of cases) {
      const withNewFields = (s: StageReport | null) =>
        s && { ...s, draws: c.parameters.n0 + c.parameters.n, looks: null };
      const x = twoDistances(...c.distances);
      const cert = await certifyInput(certifierOf(c.certifier), x, c.parameters);
      expect(cert.radius).toBe(c.radius);
      expect(cert.stages).toEqual({
        estimator: withNewFields(c.stages.estimator),
        classifier: withNewFields(c.stages.classifier),
      });
      expect(cert.parameters.sampling).toBe("fixed");
      expect(cert.parameters.targetRadius).toBeNull();
      expect(cert.certifiedAtTarget).toBeNull();
      const fixed = await certifyInput(certifierOf(c.certifier), x, { ...c.parameters, sampling: "fixed" });
      expect(fixed).toEqual(cert);
    }
  });

  it("sampling fixed with a target radius draws all n and only reports the target", async () => {
    const x = twoDistances(0.3, 0.7);
    const p = { n0: 100, n: 2000, alpha: 0.01, seed: 4 };
    const plain = await certifyInput(global, x, p);
    const fixed = await certifyInput(global, x, { ...p, sampling: "fixed", targetRadius: 0.25 });
    expect(fixed.stages).toEqual(plain.stages);
    expect(fixed.certifiedAtTarget).toBe(true);
    expect(fixed.parameters).toMatchObject({ sampling: "fixed", targetRadius: 0.25 });
  });
});

describe("a sequential stage counts the draws fixed n would", () => {
  /** The real model, run with several batches in flight that finish in a shuffled order. */
  const shuffled = (c: LoadedCertifier): LoadedCertifier => {
    const wrap = (m: NoisyClassifier): NoisyClassifier => ({
      classes: m.classes,
      parallelism: 4,
      countBatch: async (spec) => {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return m.countBatch(spec);
      },
    });
    return {
      ...c,
      options: c.options.map(wrap),
      estimator: c.estimator && wrap(c.estimator),
    };
  };

  it("whatever the batch size and however many batches are in flight", async () => {
    for (const [c, x] of [
      [global, twoDistances(0.3, 0.6)],
      [dual, twoDistances(-1.2, 0.35)],
    ] as const) {
      const p = { n0: 100, n: 10_000, alpha: 0.01, seed: 21, targetRadius: 0.3 };
      const certs: Certificate[] = [];
      for (const batchSize of [1000, 333, 77]) certs.push(await certifyInput(c, x, { ...p, batchSize }));
      certs.push(await certifyInput(shuffled(c), x, { ...p, batchSize: 64 }));
      for (const other of certs.slice(1)) expect(other).toEqual(certs[0]);
      // The stopped stage holds exactly draws 0 .. n_k - 1: the counts of fixed n = n_k.
      const k = certs[0]?.stages.classifier;
      expect(k?.n).toBeLessThan(p.n);
      expect(lookSchedule(p.n)).toContain(k?.n);
      const fixed = await certifyInput(c, x, {
        n0: 100,
        n: k?.n ?? 0,
        seed: 21,
        mode: "global",
        sigma: k?.sigma ?? 0,
      });
      expect(fixed.stages.classifier?.counts).toEqual(k?.counts);
      const share = c === global ? 0.01 : 0.01 - 0.01 * 0.5;
      expect(k?.pALower).toBe(lowerConfidenceBound(k?.nA ?? 0, k?.n ?? 0, share / 7));
    }
  });

  it("reports progress up to the total even when it stops early", async () => {
    const seen: number[] = [];
    await certifyInput(
      dual,
      twoDistances(-1.2, 0.35),
      { n0: 100, n: 10_000, seed: 2, sampling: "sequential", batchSize: 500 },
      { onProgress: (p) => seen.push(p.done) },
    );
    expect(seen.at(-1)).toBe(2 * 10_100);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

describe("soundness: 'certified' beyond the exact radius at most about alpha of the time", () => {
  const trials = 200;
  const alpha = 0.1;
  const rate = async (
    c: LoadedCertifier,
    x: number[],
    extra: object,
    wrong: (cert: Certificate) => boolean,
  ) => {
    let exceed = 0;
    for (let seed = 1; seed <= trials; seed++) {
      if (wrong(await certifyInput(c, x, { n0: 50, n: 400, alpha, seed, ...extra }))) exceed++;
    }
    return exceed;
  };

  it("target mode, global: certified at eps where the exact radius is below eps", async () => {
    // Exact radius 0.5; a target just beyond it is the hardest to refuse.
    for (const eps of [0.52, 0.6]) {
      const exceed = await rate(global, twoDistances(0, 0.5), { targetRadius: eps }, (c) => {
        if (c.certifiedAtTarget) expect(c.radius).toBeGreaterThanOrEqual(eps);
        return c.certifiedAtTarget === true;
      });
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
    }
    // Yet it certifies a target well inside the exact radius nearly always.
    const certified = await rate(
      global,
      twoDistances(0, 0.5),
      { targetRadius: 0.3 },
      (c) => c.certifiedAtTarget === true,
    );
    expect(certified).toBeGreaterThan(trials * 0.9);
  });

  it("target mode, dual: both stages must reach eps", async () => {
    // Exact min(R_sigma, R_c) = 0.4, once on each stage.
    for (const [dE, dC] of [
      [0.4, 0.9],
      [-0.9, 0.4],
    ] as const) {
      const exceed = await rate(
        dual,
        twoDistances(dE, dC),
        { targetRadius: 0.42 },
        (c) => c.certifiedAtTarget === true,
      );
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
    }
  });

  it("sequential estimator stage: radius beyond the exact min(R_sigma, R_c)", async () => {
    // Routed to sigma 0.25 (dE < 0) or 0.5; the estimator stops early where R_sigma is well past R_c.
    for (const [dE, dC] of [
      [-0.45, 0.9],
      [-1.5, 0.4],
      [0.45, 0.9],
      [0.6, 0.5],
      [1.5, 0.4],
    ] as const) {
      const exact = Math.min(Math.abs(dE), dC);
      const exceed = await rate(
        dual,
        twoDistances(dE, dC),
        { sampling: "sequential" },
        (c) => c.radius > exact,
      );
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
    }
  });
});

describe("draws saved", () => {
  const p = { n0: 100, n: 10_000, alpha: 0.001, seed: 8 };

  it("target mode decides a clearly certifiable input with far fewer than n draws", async () => {
    const cert = await certifyInput(global, twoDistances(0, 0.8), { ...p, targetRadius: 0.25 });
    expect(cert.certifiedAtTarget).toBe(true);
    expect(cert.radius).toBeGreaterThanOrEqual(0.25);
    expect(cert.parameters.sampling).toBe("sequential");
    const k = cert.stages.classifier;
    expect(k?.looks).toEqual(lookSchedule(p.n));
    expect(k?.n).toBeLessThanOrEqual(p.n / 10);
    expect(k?.draws).toBe(p.n0 + (k?.n ?? 0));
  });

  it("target mode gives up early where the target is out of reach", async () => {
    const cert = await certifyInput(global, twoDistances(0, 0.05), { ...p, targetRadius: 0.5 });
    expect(cert.certifiedAtTarget).toBe(false);
    expect(cert.stages.classifier?.n).toBeLessThanOrEqual(p.n / 10);
  });

  it("the estimator stops once R_sigma passes R_c, and the certificate stays that of fixed n", async () => {
    // Routed to sigma 0.25 (below the estimator's 0.5) and to sigma 0.5 (the estimator's own).
    for (const [dE, dC] of [
      [-1.5, 0.4],
      [1.5, 0.4],
    ] as const) {
      const x = twoDistances(dE, dC);
      const fixed = await certifyInput(dual, x, p);
      const seq = await certifyInput(dual, x, { ...p, sampling: "sequential" });
      const e = seq.stages.estimator;
      const k = seq.stages.classifier;
      expect(e?.n).toBeLessThanOrEqual(p.n / 4);
      expect(e?.radius).toBeGreaterThanOrEqual(k?.radius ?? Number.NaN);
      expect(e?.looks?.at(-1)).toBe(p.n);
      expect(e?.pALower).toBe(
        lowerConfidenceBound(e?.nA ?? 0, e?.n ?? 0, p.alpha / 2 / (e?.looks?.length ?? 0)),
      );
      // The classifier stage draws its fixed n, on the option the estimator routes to.
      expect(k).toEqual(fixed.stages.classifier);
      expect(seq.radius).toBe(fixed.radius);
      expect(seq.certifiedAtTarget).toBeNull();
    }
  });

  it("the estimator keeps only the looks that could stop it", async () => {
    // An R_c near the largest sigma 0.25 certifies: the first looks at sigma 0.5 cannot pass it.
    const x = twoDistances(-2, 0.9);
    const seq = await certifyInput(dual, x, { ...p, sampling: "sequential" });
    const looks = seq.stages.estimator?.looks ?? [];
    const rC = seq.stages.classifier?.radius ?? 0;
    expect(looks.length).toBeLessThan(lookSchedule(p.n).length);
    expect(looks.at(-1)).toBe(p.n);
    for (const n of lookSchedule(p.n).slice(0, -1)) {
      const reachable = radiusCap(0.5, n, p.alpha / 2 / 7) >= rC;
      expect(looks.includes(n)).toBe(reachable);
    }
  });
});

describe("bad parameters name the field", () => {
  for (const [name, parameters, path] of [
    ["unknown sampling", { sampling: "adaptive" }, ["sampling"]],
    ["target radius of 0", { targetRadius: 0 }, ["targetRadius"]],
    ["target radius not a number", { targetRadius: "1" }, ["targetRadius"]],
  ] as const) {
    it(name, async () => {
      const run = certifyInput(dual, twoDistances(0.3, 0.6), parameters);
      await expect(run).rejects.toBeInstanceOf(InputError);
      await expect(run).rejects.toMatchObject({ path });
    });
  }
});
