import { createHash } from "node:crypto";
import type { CertifyParameters } from "../../src/core/parameters.js";
import type { JobSpec } from "../../src/server/jobs/types.js";
import { SHAPE, twoDistances } from "./halfspace.js";

/** A job spec for the half-space zoo (test/helpers/halfspace.ts), as the API would hand it over. */
export function halfSpaceSpec(
  parameters: Partial<CertifyParameters> = {},
  extra: Partial<JobSpec> = {},
  point: number[] = twoDistances(0.8, 0.6),
): JobSpec {
  const bytes = Buffer.from(Float32Array.from(point).buffer);
  return {
    certifier: "dual-halfspace",
    input: {
      shape: SHAPE,
      data: bytes.toString("base64"),
      sha256: createHash("sha256").update(bytes).digest("hex"),
    },
    parameters: { n0: 64, n: 512, alpha: 0.01, batchSize: 128, seed: 7, ...parameters },
    ...extra,
  };
}

/** Resolves after `predicate` holds, checking every few milliseconds. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what = "a condition",
): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
