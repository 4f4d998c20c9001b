import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InputError } from "../src/core/errors.js";
import { Manifest } from "../src/core/manifest.js";
import { resolveParameters } from "../src/core/parameters.js";
import type { JobSpec } from "../src/server/contract/jobs.js";
import {
  decodeJobInput,
  encodeJobInput,
  jobInputValues,
  jobRun,
  resolvedForJob,
} from "../src/server/jobs/job-input.js";
import { costOf } from "../src/server/jobs/turns.js";

const digest = "0".repeat(64);
const manifestOf = (range: [number, number], n = 10_000) =>
  Manifest.parse({
    schemaVersion: 1,
    id: "line",
    input: { shape: [3], range },
    labels: ["a", "b"],
    models: { m: { file: `${digest}.onnx` } },
    options: [{ sigma: 0.5, chain: ["m"] }],
    defaults: { n },
  });

describe("a job's input", () => {
  it("has one form, little-endian float32 in base64 named by its sha256, which decodes to the same values", () => {
    const values = Float32Array.from([0, 0.5, 1, -2.25, 3.4028234663852886e38]);
    const input = encodeJobInput(values, [5]);
    const bytes = Buffer.from(input.data, "base64");
    expect(bytes.readFloatLE(12)).toBe(-2.25);
    expect(input.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(input.shape).toEqual([5]);
    expect([...decodeJobInput(input.data)]).toEqual([...values]);
  });

  it("hands the validated values to the run in the process that accepted them, once, then decodes", () => {
    const values = Float32Array.from([0.25, 0.75, Math.random()]);
    const input = encodeJobInput(values, [3]);
    // The same array: the run does not decode what the request already decoded and checked.
    expect(jobInputValues(input)).toBe(values);
    const again = jobInputValues(input);
    expect(again).not.toBe(values);
    expect([...again]).toEqual([...values]);
    // A job from elsewhere (the journal, another process) is decoded from its own bytes.
    const { data, sha256, shape } = input;
    expect([...jobInputValues({ data, sha256: sha256.replace(/^./, "x"), shape })]).toEqual([...values]);
  });
});

describe("a job's parameters", () => {
  const accepted = manifestOf([0, 1]);
  /** A job as the API makes it: input checked and parameters resolved against `accepted`. */
  const jobSpec = (values: number[]): JobSpec => {
    const resolved = resolveParameters(accepted, { alpha: 0.01 });
    return {
      certifier: "line",
      input: encodeJobInput(Float32Array.from(values), [3]),
      parameters: { alpha: 0.01, seed: resolved.seed },
      resolved: resolvedForJob(accepted, resolved),
    };
  };

  it("run as resolved at acceptance, on the manifest they were resolved against", () => {
    const spec = jobSpec([0.1, 0.2, 0.3]);
    // Parsed again, as another process would: the same manifest has the same digest.
    const { p } = jobRun(spec, manifestOf([0, 1]));
    expect(p).toBe(spec.resolved?.parameters);
    expect(p).toMatchObject({ mode: "global", n: 10_000, alpha: 0.01, seed: spec.parameters.seed });
    // The certifier's default n counts in the job's turn, not 0.
    expect(costOf(spec)).toBe(10_100);
    const { resolved: _, ...older } = spec;
    expect(costOf(older)).toBe(1);
  });

  it("are resolved and the input checked again when the certifier changed since", () => {
    const spec = jobSpec([0.1, 0.2, 0.9]);
    const { p } = jobRun(spec, manifestOf([0, 1], 2000));
    expect(p).toMatchObject({ n: 2000, alpha: 0.01, seed: spec.parameters.seed });
    expect(() => jobRun(jobSpec([0.1, 0.2, 0.9]), manifestOf([0, 0.5]))).toThrow(
      new InputError("input value 2 is 0.8999999761581421, outside the range [0, 0.5]", ["input", 2]),
    );
    // A job recorded without its resolved parameters is resolved when it runs.
    const { resolved: _, ...older } = jobSpec([0.1, 0.2, 0.3]);
    expect(jobRun(older, accepted).p).toMatchObject({ n: 10_000, alpha: 0.01, seed: older.parameters.seed });
  });
});
