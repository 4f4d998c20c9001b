import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Certificate, certifyInput } from "../src/core/index.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";
import { binomialUpper, twoDistances, writeHalfSpaceZoo } from "./helpers/halfspace.js";

/* A sound certificate exceeds the exact radius (see helpers/halfspace.ts) with probability at most alpha. */

let dir: string;
beforeAll(async () => {
  dir = await writeHalfSpaceZoo();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const noise of ["graph", "host"] as const) {
  describe(`half-space classifiers (${noise} noise)`, () => {
    const load = (id: string) => loadCertifier(localModelStore(dir), id, { providers: ["cpu"], noise });

    it("global: radius exceeds the exact radius in at most about alpha of the certificates", async () => {
      const certifier = await load("halfspace");
      const x = twoDistances(-0.3, 0.5);
      const trials = 300;
      const alpha = 0.1;
      let exceed = 0;
      for (let seed = 1; seed <= trials; seed++) {
        const cert = await certifyInput(certifier, x, { n0: 50, n: 400, alpha, seed });
        if (!cert.abstained) expect(cert.prediction?.index).toBe(1);
        if (cert.radius > 0.5) exceed++;
      }
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
      await certifier.close();
    });

    it("global: at n = 100000 the radius is within 3% below the exact radius", async () => {
      const certifier = await load("halfspace");
      const x = twoDistances(0.2, -0.7);
      const cert = await certifyInput(certifier, x, { n: 100_000, alpha: 0.001, seed: 7 });
      expect(cert.prediction?.index).toBe(0);
      expect(cert.radius).toBeLessThanOrEqual(0.7);
      expect(cert.radius).toBeGreaterThan(0.7 * 0.97);
      await certifier.close();
    });

    it("dual: radius exceeds min(R_sigma, R_c) exact in at most about alpha of the certificates", async () => {
      const certifier = await load("dual-halfspace");
      // 0.6 from the estimator's hyperplane on its positive side (option 1), 0.4 from the classifier's.
      const x = twoDistances(0.6, 0.4);
      const trials = 200;
      const alpha = 0.1;
      let exceed = 0;
      for (let seed = 1; seed <= trials; seed++) {
        const cert = await certifyInput(certifier, x, { n0: 50, n: 400, alpha, seed });
        if (cert.radius > 0.4) exceed++;
      }
      expect(exceed).toBeLessThanOrEqual(binomialUpper(trials, alpha));
      await certifier.close();
    });

    it("dual: at n = 100000 the radius is within 3% below min(R_sigma, R_c), whichever is smaller", async () => {
      const certifier = await load("dual-halfspace");
      for (const [rSigma, rC] of [
        [0.5, 0.8],
        [0.9, 0.45],
      ] as const) {
        const cert = await certifyInput(certifier, twoDistances(rSigma, rC), {
          n: 100_000,
          alpha: 0.001,
          seed: 3,
        });
        const exact = Math.min(rSigma, rC);
        expect(cert.stages.estimator?.option?.index).toBe(1);
        expect(cert.radius).toBe(
          Math.min(cert.stages.estimator?.radius ?? 0, cert.stages.classifier?.radius ?? 0),
        );
        expect(cert.radius).toBeLessThanOrEqual(exact);
        expect(cert.radius).toBeGreaterThan(exact * 0.97);
      }
      await certifier.close();
    });

    it("the same seed gives the same certificate at any batch size", async () => {
      for (const id of ["halfspace", "dual-halfspace"]) {
        const certifier = await load(id);
        const x = twoDistances(0.3, 0.2);
        const certs: Certificate[] = [];
        for (const batchSize of [1000, 333, 77]) {
          certs.push(
            await certifyInput(certifier, x, { n0: 100, n: 2000, alpha: 0.01, seed: 42, batchSize }),
          );
        }
        expect(certs[1]).toEqual(certs[0]);
        expect(certs[2]).toEqual(certs[0]);
        const other = await certifyInput(certifier, x, { n0: 100, n: 2000, alpha: 0.01, seed: 43 });
        expect(other.stages.classifier?.counts).not.toEqual(certs[0]?.stages.classifier?.counts);
        await certifier.close();
      }
    });
  });
}
