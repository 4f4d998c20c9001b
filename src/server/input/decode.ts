import { InputError } from "../../core/errors.js";
import { validateInput } from "../../core/input.js";
import type { Manifest } from "../../core/manifest.js";
import { ImageError, imageDecoder, imageToInput } from "../../runtime/image/index.js";
import type { JobSpec } from "../contract/jobs.js";
import { encodeJobInput } from "../jobs/job-input.js";
import type { CertifyRequest } from "../schemas/certify-request.js";
import { decodeBase64, float32FromBase64 } from "./tensor.js";

/**
 * The request's input as the job carries it: decoded, checked against the certifier's shape and
 * range (an InputError whose path points into the request body otherwise), and digested. Images
 * are decoded on the decoder's thread, so that a large one does not hold up other requests.
 */
export async function decodeInput(
  manifest: Manifest,
  input: CertifyRequest["input"],
): Promise<JobSpec["input"]> {
  let values: Float32Array;
  let shape: readonly number[];
  if (input.type === "image") {
    const bytes = decodeBase64(input.data, ["input", "data"]);
    const image = await imageDecoder()
      .decode(bytes)
      .catch((e: unknown) => {
        throw e instanceof ImageError ? new InputError(e.message, ["input", "data"]) : e;
      });
    values = imageToInput(manifest, image, ["input"]);
    shape = manifest.input.shape;
  } else {
    const data = input.data;
    values = typeof data === "string" ? float32FromBase64(data, ["input", "data"]) : Float32Array.from(data);
    shape = input.shape;
  }
  try {
    values = validateInput(manifest, values, shape);
  } catch (e) {
    throw e instanceof InputError ? new InputError(e.message, requestPath(e.path)) : e;
  }
  return encodeJobInput(values, manifest.input.shape);
}

/** validateInput names `shape`, `input` or `input[i]`; in the request they are under `input`. */
function requestPath(path: readonly (string | number)[]): (string | number)[] {
  const [head, ...rest] = path;
  if (head === "shape") return ["input", "shape"];
  if (head === "input") return ["input", "data", ...rest];
  return ["input", ...path];
}
