import { createHash } from "node:crypto";
import { validateInput } from "../../core/input.js";
import type { Manifest } from "../../core/manifest.js";
import { type ResolvedParameters, resolveParameters } from "../../core/parameters.js";
import type { JobSpec } from "../contract/jobs.js";

/**
 * A job carries its request as the API checked it: the input validated against the certifier's
 * manifest and the parameters resolved against it, with that manifest's digest. The input has one
 * serialized form, base64 of little-endian float32 (the journal and Redis hold it, and its sha256
 * names it), made by `encodeJobInput` and read back by `decodeJobInput` alone. In the process that
 * accepted a job, the validated values themselves are kept by their digest until the job runs, so
 * that a job that never leaves that process is decoded only once.
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

/** What a job runs on: the values and parameters to certify, checked against the manifest. */
export interface JobRun {
  x: Float32Array;
  p: ResolvedParameters;
}

/** The parameters resolved at acceptance, as the job carries them: with the manifest's digest. */
export function resolvedForJob(manifest: Manifest, p: ResolvedParameters): NonNullable<JobSpec["resolved"]> {
  return { manifest: manifestDigest(manifest), parameters: p };
}

/**
 * The job's input and parameters for a run with `manifest`: as they were checked at acceptance
 * when it is the manifest they were checked against. A certifier replaced since then (or a job
 * recorded without its resolved parameters) is checked again, so that what the new manifest
 * refuses fails the job with the reason instead of running on stale defaults.
 */
export function jobRun(spec: JobSpec, manifest: Manifest): JobRun {
  const values = jobInputValues(spec.input);
  const { resolved } = spec;
  if (resolved && resolved.manifest === manifestDigest(manifest))
    return { x: values, p: resolved.parameters };
  return {
    x: validateInput(manifest, values, spec.input.shape),
    p: resolveParameters(manifest, spec.parameters),
  };
}

const digests = new WeakMap<Manifest, string>();

/** sha256 of the manifest as parsed (every process parses it alike), once per manifest object. */
function manifestDigest(manifest: Manifest): string {
  let digest = digests.get(manifest);
  if (digest === undefined) {
    digest = createHash("sha256").update(JSON.stringify(manifest)).digest("hex");
    digests.set(manifest, digest);
  }
  return digest;
}
