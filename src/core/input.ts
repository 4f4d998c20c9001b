import { InputError } from "./errors.js";
import type { Manifest } from "./manifest.js";

/** Where errors name an input's parts: its shape, and its values (value i at [...values, i]). */
export interface InputFields {
  shape: readonly (string | number)[];
  values: readonly (string | number)[];
}

/**
 * Checks an input against the certifier's shape and value range before any noise is drawn. Errors
 * name the field at fault as `fields` say, so that a caller's own request layout needs no mapping.
 */
export function validateInput(
  manifest: Manifest,
  input: ArrayLike<number>,
  shape?: readonly number[],
  fields: InputFields = { shape: ["shape"], values: ["input"] },
): Float32Array {
  const expected = manifest.input.shape;
  const size = expected.reduce((a, b) => a * b, 1);
  const described = `[${expected.join(", ")}] (${size} values)`;
  if (shape && (shape.length !== expected.length || shape.some((d, i) => d !== expected[i]))) {
    throw new InputError(`input shape [${shape.join(", ")}] does not match the expected ${described}`, [
      ...fields.shape,
    ]);
  }
  if (input.length !== size) {
    throw new InputError(`input has ${input.length} values; expected shape ${described}`, [...fields.values]);
  }
  const [low, high] = manifest.input.range;
  for (let i = 0; i < size; i++) {
    const v = input[i] as number;
    if (!Number.isFinite(v))
      throw new InputError(`input value ${i} is ${v}; values must be finite`, [...fields.values, i]);
    if (v < low || v > high) {
      throw new InputError(`input value ${i} is ${v}, outside the range [${low}, ${high}]`, [
        ...fields.values,
        i,
      ]);
    }
  }
  return input instanceof Float32Array ? input : Float32Array.from(input);
}
