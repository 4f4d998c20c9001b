import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Certificate,
  type CertifyResult,
  certifyInput,
  certifyRunnerUps,
  InputError,
  type LoadedCertifier,
  overtakeRadius,
  routingAlphas,
  runnerUps,
  streamOf,
} from "../src/core/index.js";
import { certificateDraws, drawsOf, type EvalRow, rowOf } from "../src/eval/row.js";
import { parseTsv, tsvHeader, tsvLine } from "../src/eval/tsv.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";
import {
  b,
  binomialUpper,
  c,
  type LoadedHalfSpaceZoo,
  loadHalfSpaceZoo,
  SHAPE,
  twoDistances,
  v,
  w,
} from "./helpers/halfspace.js";
import { halfSpaceModel } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

/*
 * Set-valued routing (docs/routing.md) on half-space certifiers, whose exact radii are known.
 * "dual-halfspace" routes to two options over the same classifier, so the dual classifier's exact
 * radius is the distance to that classifier's hyperplane whatever the routing; "dual-flip" routes
 * the estimator's class 1 to the opposite classifier, so leaving the estimator's class-0 side
 * changes the prediction and the exact radius is min(|dE|, dC).
 */

let zoo: LoadedHalfSpaceZoo;
let dual: LoadedCertifier;
let flip: Awaited<ReturnType<typeof loadCertifier>>;
let flipDir: string;

beforeAll(async () => {
  zoo = await loadHalfSpaceZoo();
  dual = zoo.dual;
  flipDir = await mkdtemp(join(tmpdir(), "dualrs-flip-"));
  await writeCertifier(
    flipDir,
    {
      id: "dual-flip",
      input: { shape: SHAPE, range: [-10, 10] },
      labels: ["negative", "positive"],
      options: [
        { sigma: 0.25, chain: ["clf"] },
        { sigma: 0.5, chain: ["flip"] },
      ],
      estimator: { sigma: 0.5, chain: ["est"] },
    },
    {
      clf: { bytes: halfSpaceModel(w, b, SHAPE) },
      flip: {
        bytes: halfSpaceModel(
          w.map((wi) => -wi),
          -b,
          SHAPE,
        ),
      },
      est: { bytes: halfSpaceModel(v, c, SHAPE) },
    },
  );
  flip = await loadCertifier(localModelStore(flipDir), "dual-flip", { providers: ["cpu"] });
});

afterAll(async () => {
  await zoo?.close();
  await flip?.close();
  if (flipDir) await rm(flipDir, { recursive: true, force: true });
});

describe("the overtake bound and the alpha split", () => {
  it("sigma / 2 (PhiInv(pTop_lower) - PhiInv(pk_upper)), as scipy computes it", () => {
    // scipy: 0.5/2*(norm.ppf(0.9)-norm.ppf(0.03)), 1.0/2*(norm.ppf(0.97)-norm.ppf(0.2))
    expect(overtakeRadius(0.5, 0.9, 0.03)).toBeCloseTo(0.7905862934239629, 10);
    expect(overtakeRadius(1, 0.97, 0.2)).toBeCloseTo(1.3612074208620826, 10);
    expect(overtakeRadius(1, 0.9, 0)).toBe(Number.POSITIVE_INFINITY);
    // With pk_upper = 1 - pTop_lower it is R_sigma itself: the trivial bound buys nothing.
    expect(overtakeRadius(0.5, 0.9, 0.1)).toBeCloseTo(0.5 * 1.2815515655446004, 10);
  });

  it("splits alpha_c into the routed classifier, the upper bounds and the ranks, adding up to alpha_c", () => {
    const a = routingAlphas(0.0005, 4, 4);
    expect(a).toEqual({ top: 0.00025, upper: 0.0005 / 4 / 3, rank: 0.0005 / 4 / 3 });
    expect(a.top + 3 * a.upper + 3 * a.rank).toBeCloseTo(0.0005, 15);
    // Nothing to route to: all of alpha_c stays with the routed classifier.
    expect(routingAlphas(0.01, 1, 1)).toEqual({ top: 0.01, upper: 0, rank: 0 });
  });

  it("ranks the options the estimator could route to by their overtake radius", () => {
    const est: CertifyResult = {
      sigma: 1,
      n0: 100,
      n: 10_000,
      alpha: 0.0005,
      selectionCounts: [0, 10, 90, 0],
      counts: [30, 1500, 8400, 70],
      top: 2,
      nA: 8400,
      pALower: 0.83,
      abstained: false,
      radius: 0.954,
      draws: 10_100,
      looks: null,
    };
    const ref = (index: number) => ({ index, sigma: [0.12, 0.25, 0.5, 1][index] ?? 0 });
    const ranked = runnerUps(est, [0, 1, 2, 3], 2, 0.0005 / 4 / 3, ref);
    expect(ranked.map((r) => r.option.index)).toEqual([1, 3, 0]);
    // scipy: beta.ppf(1 - 0.0005/4/3, 31, 10000 - 30), the upper bound on class 0 (30 draws).
    expect(ranked[2]?.pUpper).toBeCloseTo(0.005779070170056333, 10);
    for (const r of ranked) {
      expect(r.pUpper).toBeLessThanOrEqual(1 - est.pALower);
      expect(r.overtake).toBeCloseTo(overtakeRadius(1, 0.83, r.pUpper), 12);
      expect(r.overtake).toBeGreaterThanOrEqual(est.radius);
    }
    // A sequential stage bounds each look at alpha / looks.
    const seq = runnerUps({ ...est, looks: [5000, 10_000] }, [0, 1, 2, 3], 2, 0.0005 / 4 / 3, ref);
    expect(seq[2]?.pUpper).toBeGreaterThan(ranked[2]?.pUpper ?? 1);
    // Classes routing to the routed option are no runner-ups.
    expect(runnerUps(est, [2, 2, 2, 3], 2, 0.001, ref).map((r) => r.option.index)).toEqual([3]);
  });

  it("takes the best radius over the runner-ups certified, never less than the nearest overtake", async () => {
    const up = (index: number, overtake: number) => ({ option: { index, sigma: 1 }, pUpper: 0.1, overtake });
    const stage = (top: number, radius: number) =>
      ({ top, radius, abstained: false, draws: 10 }) as unknown as CertifyResult;
    const ups = [up(1, 0.5), up(2, 0.9)];
    const run = (results: CertifyResult[]) => {
      const asked: number[] = [];
      const done = certifyRunnerUps(0, 2, 2, ups, async (option) => {
        asked.push(option);
        return results[asked.length - 1] as CertifyResult;
      });
      return done.then((d) => ({ ...d, asked }));
    };
    // The nearest runner-up agrees with a radius below its own overtake radius: 0.5, not 0.3.
    expect(await run([stage(0, 0.3)])).toMatchObject({ radius: 0.5, asked: [1] });
    // It agrees past it: up to the next overtake radius, then past that with the next one.
    expect(await run([stage(0, 1.5), stage(0, 1.2)])).toMatchObject({ radius: 1.2, asked: [1, 2] });
    expect(await run([stage(0, 1.5), stage(1, 1.2)])).toMatchObject({ radius: 0.9, asked: [1, 2] });
    // It disagrees: the routed option holds up to its overtake radius.
    expect(await run([stage(1, 1.5)])).toMatchObject({ radius: 0.5, asked: [1] });
    // Nothing wanted past 0.5: no runner-up is certified.
    expect(await certifyRunnerUps(0, 2, 0.5, ups, () => Promise.reject(new Error("drawn")))).toEqual({
      radius: 0.5,
      certified: [],
    });
  });

  it("runner-ups draw from streams of their own", () => {
    const named = ["classifier", "estimator"] as const;
    const phases = ["selection", "estimation", "prediction"] as const;
    const all = [...named, { runnerUp: 1 }, { runnerUp: 2 }, { runnerUp: 3 }].flatMap((s) =>
      phases.map((ph) => streamOf(s, ph)),
    );
    expect(new Set(all).size).toBe(all.length);
  });
});

describe("single routing is the default and unchanged", () => {
  it("gives the same certificate with routing single as without it, and no routing report", async () => {
    const x = twoDistances(0.2, 0.6);
    const p = { n0: 100, n: 2000, alpha: 0.01, seed: 3 };
    const plain = await certifyInput(dual, x, p);
    expect(await certifyInput(dual, x, { ...p, routing: "single" })).toEqual(plain);
    expect(plain.parameters.routing).toBe("single");
    expect(plain.routing).toBeNull();
    expect(plain.radius).toBe(
      Math.min(plain.stages.estimator?.radius ?? 0, plain.stages.classifier?.radius ?? 0),
    );
    const global = await certifyInput(zoo.global, x, p);
    expect(global.parameters.routing).toBeNull();
    expect(global.routing).toBeNull();
  });
});

describe("set routing", () => {
  const p = { n0: 100, n: 10_000, alpha: 0.001, seed: 5, routing: "set" as const };

  it("certifies past R_sigma where the options agree, recording what ran", async () => {
    const x = twoDistances(0.2, 0.6);
    const set = await certifyInput(dual, x, p);
    const r = set.routing;
    const e = set.stages.estimator;
    const k = set.stages.classifier;
    expect(r?.singleRadius).toBe(Math.min(e?.radius ?? 0, k?.radius ?? 0));
    expect(e?.radius).toBeLessThan(k?.radius ?? 0);
    expect(k?.alpha).toBe(r?.alphas.top);
    expect(r?.alphas).toEqual(routingAlphas(0.0005, 2, 2));
    expect(r?.runnerUps.map((u) => u.option.index)).toEqual([0]);
    const extra = r?.certified[0];
    expect(extra).toMatchObject({ rank: 1, sigma: 0.25, top: k?.top, alpha: r?.alphas.rank, draws: 10_100 });
    expect(extra?.overtake).toBe(r?.runnerUps[0]?.overtake);
    // Fresh draws: not the routed stage's, though the model is the same one.
    expect(extra?.selectionCounts).not.toEqual(k?.selectionCounts);
    expect(set.radius).toBe(Math.min(k?.radius ?? 0, extra?.radius ?? 0));
    expect(set.radius).toBeGreaterThan((r?.singleRadius ?? 0) + 0.2);
    expect(set.radius).toBeLessThanOrEqual(0.6);
    // The single certificate from the same seed has the same estimator stage.
    const single = await certifyInput(dual, x, { ...p, routing: "single" });
    expect(single.stages.estimator).toEqual(e);
    expect(single.radius).toBeLessThan(set.radius);
  });

  it("spends no extra draws where R_sigma does not cap the certificate", async () => {
    const set = await certifyInput(dual, twoDistances(1.5, 0.3), p);
    expect(set.routing?.certified).toEqual([]);
    expect(set.radius).toBe(set.routing?.singleRadius);
    expect(set.radius).toBe(set.stages.classifier?.radius);
  });

  it("stops at the overtake radius where the runner-up disagrees", async () => {
    const set = await certifyInput(flip, twoDistances(-0.15, 0.6), p);
    const r = set.routing;
    expect(r?.certified[0]?.top).not.toBe(set.prediction?.index);
    expect(set.radius).toBe(Math.min(set.stages.classifier?.radius ?? 0, r?.runnerUps[0]?.overtake ?? 0));
    expect(set.radius).toBeLessThanOrEqual(0.15);
  });

  it("works with sequential sampling and a target radius", async () => {
    const x = twoDistances(0.2, 0.6);
    const seq = await certifyInput(dual, x, { ...p, sampling: "sequential" });
    expect(seq.routing?.certified).toHaveLength(1);
    expect(seq.radius).toBeGreaterThan(0.3);
    const target = await certifyInput(dual, x, { ...p, targetRadius: 0.3 });
    expect(target.certifiedAtTarget).toBe(true);
    expect(target.routing?.certified[0]?.n).toBeLessThan(p.n);
    const single = await certifyInput(dual, x, { ...p, targetRadius: 0.3, routing: "single" });
    expect(single.certifiedAtTarget).toBe(false);
  });
});

describe("evaluation rows keep what a report compares", () => {
  it("r_single and extra_draws survive the TSV, and the draws add up", async () => {
    const p = { n0: 100, n: 2000, alpha: 0.001, routing: "set" as const };
    const capped = await certifyInput(dual, twoDistances(0.2, 0.6), { ...p, seed: 5 });
    const free = await certifyInput(dual, twoDistances(1.5, 0.3), { ...p, seed: 5 });
    const rows = [rowOf(capped, 0, 1, 0.5), rowOf(free, 1, 1, 0.5)];
    expect(rows[0]?.dual?.extraDraws).toBe(2100);
    expect(rows[0]?.dual?.rSingle).toBe(capped.routing?.singleRadius);
    expect(rows[1]?.dual?.extraDraws).toBe(0);
    const text = tsvHeader("dual", "set") + rows.map(tsvLine).join("");
    expect(text.split("\n")[0]).toMatch(/\tr_single\textra_draws$/);
    expect(parseTsv(text)).toEqual(rows);
    expect(drawsOf(rows[0] as EvalRow, p)).toBe(certificateDraws(capped));
    expect(certificateDraws(capped)).toBe(3 * 2100);
    // A single-routing TSV is as before.
    expect(tsvHeader("dual")).not.toMatch(/r_single/);
  });
});

describe("soundness: radius beyond the dual classifier's exact radius at most about alpha of the time", () => {
  const trials = 200;
  const alpha = 0.1;
  const exceedances = async (cert: LoadedCertifier, x: number[], extra: object, exact: number) => {
    let exceed = 0;
    let past = 0;
    for (let seed = 1; seed <= trials; seed++) {
      const r: Certificate = await certifyInput(cert, x, {
        n0: 50,
        n: 400,
        alpha,
        seed,
        routing: "set",
        ...extra,
      });
      // Never below single routing's radius from the same stages.
      expect(r.radius).toBeGreaterThanOrEqual(r.routing?.singleRadius ?? 0);
      if (r.radius > exact) exceed++;
      if (r.radius > (r.routing?.singleRadius ?? 0)) past++;
    }
    return { exceed, past };
  };

  it("options that agree: the radius goes past min(R_sigma, R_c) but not past the exact radius", async () => {
    for (const [dE, dC, extra] of [
      [0.25, 0.45, {}],
      [-0.25, 0.45, {}],
      [0.25, 0.4, { sampling: "sequential" }],
    ] as const) {
      const { exceed, past } = await exceedances(dual, twoDistances(dE, dC), extra, dC);
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
      expect(past).toBeGreaterThan(trials / 2);
    }
  });

  it("a runner-up that disagrees: not past the estimator's exact radius", async () => {
    for (const [dE, dC] of [
      [-0.2, 0.6],
      [-0.3, 0.5],
    ] as const) {
      const { exceed } = await exceedances(flip, twoDistances(dE, dC), {}, Math.min(-dE, dC));
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
    }
  });
});

describe("bad parameters name the field", () => {
  for (const [name, cert, parameters] of [
    ["unknown routing", () => dual, { routing: "both" }],
    ["set routing in global mode", () => zoo.global, { routing: "set" }],
  ] as const) {
    it(name, async () => {
      const run = certifyInput(cert(), twoDistances(0.3, 0.6), parameters);
      await expect(run).rejects.toBeInstanceOf(InputError);
      await expect(run).rejects.toMatchObject({ path: ["routing"] });
    });
  }
});
