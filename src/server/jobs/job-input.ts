import { createHash } from "node:crypto";
import type { JobSpec } from "../contract/jobs.js";

/**
 * A job's input has one serialized form, base64 of little-endian float32 (the journal and Redis
 * hold it, and its sha256 names it), made by `encodeJobInput` and read back by `decodeJobInput`
 * alone. In the process that accepted a job, the validated values themselves are kept by their
 * digest until the job runs, so that a job that never leaves that process is decoded only once.
 */

/** Values of jobs accepted here and not yet run, by sha256: a bounded number, the newest kept. */
const carried = new Map<string, Float32Array>();
const CARRIED = 64;

/** The job's form of validated `values`, which stay at hand here for the run. */
export function encodeJobInput(values: Float32Array, shape: readonly number[]): JobSpec["input"] {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i] as number, 4 * i);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  carried.delete(sha256);
  carried.set(sha256, values);
  if (carried.size > CARRIED) carried.delete(carried.keys().next().value as string);
  return { shape: [...shape], data: bytes.toString("base64"), sha256 };
}

/** Little-endian float32 values from a job's base64 input, whatever the host's byte order. */
export function decodeJobInput(data: string): Float32Array {
  const bytes = Buffer.from(data, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(Math.floor(bytes.length / 4));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** The values to run a job on: those carried from its request when it was accepted here, else decoded. */
export function jobInputValues(input: JobSpec["input"]): Float32Array {
  const values = carried.get(input.sha256);
  if (values) {
    carried.delete(input.sha256);
    return values;
  }
  return decodeJobInput(input.data);
}
