import { describe, expect, it } from "vitest";
import { costOf, Turns } from "../src/server/jobs/turns.js";
import { halfSpaceSpec } from "./helpers/jobs.js";

/** Every id `turns` gives, in order, until none waits. */
const drain = (turns: Turns) => {
  const out: string[] = [];
  for (let id = turns.next(); id !== undefined; id = turns.next()) out.push(id);
  return out;
};

describe("tenants' turns", () => {
  it("alternates between tenants whose jobs ask for as many draws, each tenant's in order", () => {
    const t = new Turns();
    for (const id of ["a1", "a2", "a3", "a4"]) t.push("a", id, 100);
    for (const id of ["b1", "b2"]) t.push("b", id, 100);
    expect([t.size("a"), t.size("b"), t.size("c")]).toEqual([4, 2, 0]);
    expect(t.oldest()).toBe("a1");
    expect(drain(t)).toEqual(["a1", "b1", "a2", "b2", "a3", "a4"]);
  });

  it("gives a tenant whose jobs draw four times as many samples a quarter of the turns", () => {
    const t = new Turns();
    for (const id of ["a1", "a2", "a3"]) t.push("a", id, 3200);
    for (const id of ["b1", "b2", "b3", "b4", "b5"]) t.push("b", id, 800);
    expect(drain(t)).toEqual(["a1", "b1", "b2", "b3", "b4", "a2", "b5", "a3"]);
  });

  it("gives a tenant of weight 3 three turns for each of a tenant of weight 1", () => {
    const t = new Turns();
    const spec = halfSpaceSpec({ n0: 100, n: 2000 });
    for (const id of ["a1", "a2", "a3", "a4", "a5", "a6"]) t.push("a", id, costOf(spec, 3));
    for (const id of ["b1", "b2", "b3"]) t.push("b", id, costOf(spec));
    expect(costOf(spec, 3)).toBe(700);
    expect(drain(t)).toEqual(["a1", "b1", "a2", "a3", "a4", "b2", "a5", "a6", "b3"]);
  });

  it("gives no credit for time spent away: a tenant that comes back joins at the current turn", () => {
    const t = new Turns();
    t.push("a", "a1", 100);
    expect(t.next()).toBe("a1");
    for (const id of ["b1", "b2", "b3", "b4", "b5", "b6"]) t.push("b", id, 100);
    for (let i = 0; i < 5; i++) t.next();
    // Counted from its one job, a would now start three in a row while b waits.
    for (const id of ["a2", "a3", "a4"]) t.push("a", id, 100);
    expect(drain(t)).toEqual(["a2", "b6", "a3", "a4"]);
  });

  it("takes a canceled job out of its line, and a tenant with none left out of the turns", () => {
    const t = new Turns();
    t.push("a", "a1", 1);
    t.push("b", "b1", 1);
    t.push("b", "b2", 1);
    expect(t.remove("a", "a1")).toBe(true);
    expect(t.remove("a", "a1")).toBe(false);
    expect(t.remove("b", "a1")).toBe(false);
    expect(t.oldest()).toBe("b1");
    expect(drain(t)).toEqual(["b1", "b2"]);
    expect(t.oldest()).toBeUndefined();
  });
});
