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
 * range (an InputError naming the request body's field otherwise), and digested. Images
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
  // Checked once, with the errors naming the request's own fields.
  values = validateInput(manifest, values, shape, { shape: ["input", "shape"], values: ["input", "data"] });
  return encodeJobInput(values, manifest.input.shape);
}
