import { describe, expect, it } from "vitest";
import { binomialTestHalf, lowerConfidenceBound, normalQuantile } from "../src/core/stats.js";
import { readReference, relativeError } from "./helpers/reference.js";

const REL = 1e-9;

describe("statistics against scipy reference values", () => {
  it("Clopper-Pearson lower bound and radius, abstentions included", () => {
    const rows = readReference("clopper_pearson.tsv");
    expect(rows.length).toBeGreaterThan(400);
    let abstentions = 0;
    for (const r of rows) {
      const nA = Number(r.nA);
      const n = Number(r.n);
      const pA = lowerConfidenceBound(nA, n, Number(r.alpha));
      expect(relativeError(pA, Number(r.pA_lower)), JSON.stringify(r)).toBeLessThanOrEqual(REL);
      if (r.radius === "abstain") {
        abstentions++;
        expect(pA, JSON.stringify(r)).toBeLessThan(0.5);
      } else {
        expect(pA).toBeGreaterThanOrEqual(0.5);
        const radius = Number(r.sigma) * normalQuantile(pA);
        expect(relativeError(radius, Number(r.radius)), JSON.stringify(r)).toBeLessThanOrEqual(REL);
      }
    }
    expect(abstentions).toBeGreaterThan(0);
  });

  it("standard normal quantile", () => {
    for (const r of readReference("normal_quantile.tsv")) {
      expect(relativeError(normalQuantile(Number(r.p)), Number(r.quantile)), r.p).toBeLessThanOrEqual(REL);
    }
  });

  it("two-sided exact binomial test at p = 1/2, far tails included", () => {
    let tails = 0;
    for (const r of readReference("binomial_test.tsv")) {
      const p = binomialTestHalf(Number(r.nA), Number(r.nB));
      const expected = Number(r.p_value);
      if (expected > 1e-300) {
        expect(relativeError(p, expected), JSON.stringify(r)).toBeLessThanOrEqual(REL);
      } else {
        tails++;
        expect(p, JSON.stringify(r)).toBeLessThan(1e-300);
      }
    }
    expect(tails).toBeGreaterThan(0);
  });
});
