import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binomialCdf from "@stdlib/stats-base-dists-binomial-cdf";
import { loadCertifier, localModelStore, type RuntimeCertifier } from "../../src/runtime/index.js";
import { halfSpaceModel } from "./onnx-builder.js";
import { writeCertifier } from "./zoo.js";

/*
 * Smoothing a half-space classifier f(x) = [w.x + b > 0] with N(0, sigma^2 I) gives
 * pA = Phi(|w.x + b| / (sigma ||w||)), so the exact certified radius sigma * PhiInv(pA) is the
 * distance from x to the hyperplane, whatever sigma (Cohen et al. 2019, Section 3.1).
 */

export const SHAPE = [2, 4];
export const w = [0.6, -0.2, 0.3, 0.1, -0.5, 0.2, 0.4, -0.3];
export const b = 0.1;
export const v = [-0.1, 0.5, 0.2, -0.4, 0.1, 0.3, -0.2, 0.6];
export const c = -0.2;

const norm = (a: number[]) => Math.hypot(...a);
const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * (b[i] ?? 0), 0);

/**
 * A zoo of two certifiers: "halfspace" (global, sigma 0.5, classifier w.x + b) and
 * "dual-halfspace" (estimator v.x + c smoothed at 0.5, routing class 0 to sigma 0.25 and class 1
 * to sigma 0.5, both over the same classifier).
 */
export async function writeHalfSpaceZoo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dualrs-halfspace-"));
  const models = { clf: { bytes: halfSpaceModel(w, b, SHAPE) }, est: { bytes: halfSpaceModel(v, c, SHAPE) } };
  const base = {
    input: { shape: SHAPE, range: [-10, 10] as [number, number] },
    labels: ["negative", "positive"],
  };
  await writeCertifier(dir, { ...base, id: "halfspace", options: [{ sigma: 0.5, chain: ["clf"] }] }, models);
  const options = [
    { sigma: 0.25, chain: ["clf"] },
    { sigma: 0.5, chain: ["clf"] },
  ];
  await writeCertifier(
    dir,
    { ...base, id: "dual-halfspace", options, estimator: { sigma: 0.5, chain: ["est"] } },
    models,
  );
  return dir;
}

/** A point at signed distance dE from the estimator's hyperplane and dC from the classifier's. */
export function twoDistances(dE: number, dC: number): number[] {
  // Solve v.x + c = dE |v| and w.x + b = dC |w| for x in the span of v and w.
  const [vv, vw, ww] = [dot(v, v), dot(v, w), dot(w, w)];
  const r1 = dE * norm(v) - c;
  const r2 = dC * norm(w) - b;
  const det = vv * ww - vw * vw;
  const alphaV = (r1 * ww - r2 * vw) / det;
  const alphaW = (r2 * vv - r1 * vw) / det;
  return v.map((vi, i) => alphaV * vi + alphaW * (w[i] ?? 0));
}

/** The half-space zoo in a temporary store with both certifiers loaded on the CPU; close removes it. */
export interface LoadedHalfSpaceZoo {
  readonly global: RuntimeCertifier;
  readonly dual: RuntimeCertifier;
  close(): Promise<void>;
}

export async function loadHalfSpaceZoo(): Promise<LoadedHalfSpaceZoo> {
  const dir = await writeHalfSpaceZoo();
  const store = localModelStore(dir);
  const global = await loadCertifier(store, "halfspace", { providers: ["cpu"] });
  const dual = await loadCertifier(store, "dual-halfspace", { providers: ["cpu"] });
  return {
    global,
    dual,
    async close() {
      await Promise.all([global.close(), dual.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The smallest k with P(Binomial(trials, p) > k) <= tail: more exceedances than k refute rate p. */
export function binomialUpper(trials: number, p: number, tail = 1e-6): number {
  let k = 0;
  while (1 - binomialCdf(k, trials, p) > tail) k++;
  return k;
}
