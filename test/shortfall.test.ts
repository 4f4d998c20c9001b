import { describe, expect, it } from "vitest";
import { envelope, worstShortfall } from "../src/eval/shortfall.js";

const curve = (...acc: number[]) => acc.map((accuracy, i) => ({ radius: i * 0.25, accuracy }));

describe("worst shortfall to the envelope", () => {
  // Two global sigmas: a small one that wins near 0 and certifies nothing from 0.5, a large one that
  // wins from 0.5 on (the shape of the results page's curves).
  const small = curve(0.9, 0.85, 0, 0, 0);
  const large = curve(0.75, 0.72, 0.68, 0.6, 0.5);
  const env = envelope([small, large]);

  it("takes the best curve at every radius", () => {
    expect(env.map((p) => p.accuracy)).toEqual([0.9, 0.85, 0.68, 0.6, 0.5]);
  });

  it("finds the worst radius of a routing that falls short near 0", () => {
    const dual = curve(0.812, 0.768, 0.67, 0.6, 0.5);
    expect(worstShortfall(env, dual)).toEqual({ points: 8.8, radius: 0 });
  });

  it("gives each global sigma its own worst point: a large sigma near 0, a small one where it stops", () => {
    expect(worstShortfall(env, large)).toEqual({ points: 15, radius: 0 });
    expect(worstShortfall(env, small)).toEqual({ points: 68, radius: 0.5 });
  });

  it("is 0 for a curve that is never below, and for the envelope itself", () => {
    expect(worstShortfall(env, curve(0.95, 0.9, 0.7, 0.6, 0.55))).toEqual({ points: 0, radius: 0 });
    expect(worstShortfall(env, env).points).toBe(0);
  });

  it("counts only radii in the range, and breaks ties at the smaller radius", () => {
    const dual = curve(0.5, 0.8, 0.63, 0.55, 0.5);
    expect(worstShortfall(env, dual, 0.25, 1)).toEqual({ points: 5, radius: 0.25 });
    expect(worstShortfall(env, curve(0.85, 0.8, 0.68, 0.6, 0.5)).radius).toBe(0);
  });

  it("does not make a shortfall out of floating point", () => {
    expect(worstShortfall(curve(0.1 + 0.2), curve(0.3)).points).toBe(0);
  });

  it("refuses curves it cannot compare", () => {
    expect(() => envelope([])).toThrow(RangeError);
    expect(() => worstShortfall(env, curve(0.9, 0.85))).toThrow(/radius 0.5/);
    expect(() => worstShortfall(env, large, 3, 4)).toThrow(RangeError);
  });
});
