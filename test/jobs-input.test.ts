import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeJobInput, encodeJobInput, jobInputValues } from "../src/server/jobs/job-input.js";

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
