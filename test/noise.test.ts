import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import { describe, expect, it } from "vitest";
import { fillGaussian, NOISE_SQUARES, NOISE_VERSIONS, philox4x32, seedKey } from "../src/core/noise.js";
import { squares32, squaresKey } from "../src/core/squares.js";

const hex = (a: Uint32Array) => Array.from(a, (v) => v.toString(16).padStart(8, "0")).join(" ");

/** Element j of draw i, straight from the documented layout (src/core/noise.ts). */
function reference(seed: number, stream: number, i: number, j: number): number {
  const [k0, k1] = seedKey(seed);
  const w = new Uint32Array(4);
  philox4x32(j >>> 2, i, stream, 0, k0, k1, w);
  const pair = (j & 3) >> 1;
  const u1 = ((w[2 * pair] as number) + 0.5) / 2 ** 32;
  const u2 = (w[2 * pair + 1] as number) / 2 ** 32;
  const r = Math.sqrt(-2 * Math.log(u1));
  return Math.fround((j & 1) === 0 ? r * Math.cos(2 * Math.PI * u2) : r * Math.sin(2 * Math.PI * u2));
}

describe("philox4x32", () => {
  // Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
  it.each([
    [[0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      "d16cfe09 94fdcceb 5001e420 24126ea1",
    ],
  ])("KAT ctr=%j key=%j", (c, k, expected) => {
    const out = new Uint32Array(4);
    philox4x32(c[0] ?? 0, c[1] ?? 0, c[2] ?? 0, c[3] ?? 0, k[0] ?? 0, k[1] ?? 0, out);
    expect(hex(out)).toBe(expected);
  });
});

describe("squares32", () => {
  // From a C transcription of Widynski's squares32 with 64-bit integers (uint64_t), keys from
  // splitmix64(splitmix64(seed) + stream) | 1; counters 0, 1, 5 * 2^32 + 783 and 2^64 - 1.
  it.each([
    [0, 0, "a706dd2f4d197e6f", "a935cf9c 527551d3 d2b608b5 6ec8f443"],
    [1, 7, "33180454ba17a00d", "5d928075 42234a6e 434a8051 5d90d4c5"],
    [Number.MAX_SAFE_INTEGER, 2 ** 32 - 1, "3b82ed6deee92595", "4e13968a 88039e72 183c7c69 33097848"],
  ])("seed %d, stream %d: key %s, words %s", (seed, stream, key, words) => {
    const [kl, kh] = squaresKey(seed, stream);
    expect(hex(Uint32Array.of(kh, kl)).replace(" ", "")).toBe(key);
    const counters = [
      [0, 0],
      [0, 1],
      [5, 783],
      [2 ** 32 - 1, 2 ** 32 - 1],
    ];
    expect(hex(Uint32Array.from(counters, ([h, l]) => squares32(h ?? 0, l ?? 0, kl, kh)))).toBe(words);
  });

  it("lays out the noise as documented: words 2p and 2p + 1 make elements 2p and 2p + 1", () => {
    const dim = 7;
    const out = new Float32Array(3 * dim);
    fillGaussian(out, dim, 11, 2, 40, 3, NOISE_SQUARES);
    const [kl, kh] = squaresKey(11, 2);
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < dim; j++) {
        const p = j >> 1;
        const a = squares32(40 + k, 2 * p, kl, kh);
        const b = squares32(40 + k, 2 * p + 1, kl, kh);
        const r = Math.sqrt(-2 * Math.log(Math.fround(Math.fround(a) + 0.5) / 2 ** 32));
        const t = Math.fround(Math.fround(b) * Math.fround((2 * Math.PI) / 2 ** 32));
        expect(out[k * dim + j]).toBe(Math.fround(j % 2 === 0 ? r * Math.cos(t) : r * Math.sin(t)));
      }
    }
  });
});

describe("seedKey", () => {
  it("splits a safe integer into two 32-bit words", () => {
    expect(seedKey(0)).toEqual([0, 0]);
    expect(seedKey(2 ** 40 + 5)).toEqual([5, 256]);
    expect(seedKey(Number.MAX_SAFE_INTEGER)).toEqual([0xffffffff, 2 ** 21 - 1]);
    expect(() => seedKey(-1)).toThrow(RangeError);
    expect(() => seedKey(1.5)).toThrow(RangeError);
    expect(() => seedKey(2 ** 53)).toThrow(RangeError);
  });
});

describe("fillGaussian", () => {
  it("follows the documented counter layout, odd dimensions and large seeds included", () => {
    for (const [dim, seed, stream, first] of [
      [7, 1, 0, 0],
      [13, 2 ** 40 + 5, 3, 1000],
      [784, Number.MAX_SAFE_INTEGER, 0xffffffff, 2 ** 32 - 3],
    ] as const) {
      const out = new Float32Array(3 * dim);
      fillGaussian(out, dim, seed, stream, first, 3);
      for (let k = 0; k < 3; k++) {
        for (let j = 0; j < dim; j++) {
          expect(out[k * dim + j]).toBe(reference(seed, stream, first + k, j));
        }
      }
    }
  });

  it("does not depend on how draws are batched", () => {
    const dim = 30;
    const all = new Float32Array(1000 * dim);
    fillGaussian(all, dim, 42, 1, 0, 1000);
    for (const chunk of [7, 100, 333]) {
      const pieces = new Float32Array(1000 * dim);
      for (let first = 0; first < 1000; first += chunk) {
        const count = Math.min(chunk, 1000 - first);
        fillGaussian(pieces.subarray(first * dim), dim, 42, 1, first, count);
      }
      expect(pieces).toEqual(all);
    }
  });

  it("gives different noise for different seeds and streams", () => {
    const dim = 64;
    const draw = (seed: number, stream: number) => {
      const out = new Float32Array(dim * 10);
      fillGaussian(out, dim, seed, stream, 0, 10);
      return out;
    };
    const base = draw(1, 0);
    for (const other of [draw(2, 0), draw(1, 1), draw(1 + 2 ** 32, 0)]) {
      let same = 0;
      for (let j = 0; j < base.length; j++) if (base[j] === other[j]) same++;
      expect(same).toBe(0);
    }
  });

  it("rejects bad arguments", () => {
    const out = new Float32Array(10);
    expect(() => fillGaussian(out, 10, -1, 0, 0, 1)).toThrow(RangeError);
    expect(() => fillGaussian(out, 10, 0, 2 ** 32, 0, 1)).toThrow(RangeError);
    expect(() => fillGaussian(out, 10, 0, 0, 2 ** 32 - 1, 2)).toThrow(RangeError);
    expect(() => fillGaussian(out, 10, 0, 0, 0, 2)).toThrow(RangeError);
    expect(() => fillGaussian(out, 0, 0, 0, 0, 1)).toThrow(RangeError);
  });

  describe.each(NOISE_VERSIONS)("is standard normal: %s", (version) => {
    // 2^20 values: 1024 draws of an odd dimension, so all Box-Muller outputs and partial blocks count.
    const dim = 1023;
    const draws = 1025;
    const n = dim * draws;
    const z = new Float32Array(n);
    fillGaussian(z, dim, 20240611, 7, 0, draws, version);

    it("has the moments of N(0, 1)", () => {
      let s1 = 0;
      let s2 = 0;
      let s4 = 0;
      let lag = 0;
      for (let j = 0; j < n; j++) {
        const v = z[j] as number;
        s1 += v;
        s2 += v * v;
        s4 += v * v * v * v;
        if (j > 0) lag += v * (z[j - 1] as number);
      }
      // Tolerances are 6 standard errors: sd(mean) = 1/sqrt(n), sd(s2/n) = sqrt(2/n),
      // sd(s4/n) = sqrt(96/n) (E z^8 - (E z^4)^2 = 105 - 9), sd(lag/n) = 1/sqrt(n).
      const se = 1 / Math.sqrt(n);
      expect(Math.abs(s1 / n)).toBeLessThan(6 * se);
      expect(Math.abs(s2 / n - 1)).toBeLessThan(6 * Math.sqrt(2) * se);
      expect(Math.abs(s4 / n - 3)).toBeLessThan(6 * Math.sqrt(96) * se);
      expect(Math.abs(lag / n)).toBeLessThan(6 * se);
    });

    it("passes a Kolmogorov-Smirnov test against the normal CDF", () => {
      // D = sup |F_n - Phi|, attained at the sample points.
      const sorted = Float64Array.from(z).sort();
      let d = 0;
      for (let i = 0; i < n; i++) {
        const p = normalCdf(sorted[i] as number, 0, 1);
        d = Math.max(d, (i + 1) / n - p, p - i / n);
      }
      // P(sqrt(n) D > 2.5) ~ 2 exp(-2 * 2.5^2) ~ 7e-6 (Kolmogorov's limit).
      expect(Math.sqrt(n) * d).toBeLessThan(2.5);
      // u1 >= 2^-33 bounds |z| by sqrt(66 ln 2) ~ 6.77.
      expect(Math.max(-(sorted[0] as number), sorted[n - 1] as number)).toBeLessThanOrEqual(
        Math.sqrt(66 * Math.LN2) + 1e-6,
      );
    });
  });
});
