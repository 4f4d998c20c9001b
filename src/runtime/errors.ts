import { ModelError } from "../core/errors.js";

/** A manifest that cannot be read or does not validate; names the file and the field at fault. */
export class ManifestError extends Error {
  override readonly name = "ManifestError";
  constructor(
    message: string,
    readonly file: string,
    /** Path of the field at fault inside the manifest, empty when the whole file is at fault. */
    readonly path: readonly (string | number)[] = [],
  ) {
    super(message);
  }
}

/** A model file whose bytes do not hash to the sha256 its name promises. */
export class IntegrityError extends Error {
  override readonly name = "IntegrityError";
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`model file ${file} is corrupt: sha256 expected ${expected}, actual ${actual}`);
  }
}

/** An execution provider that was required but cannot be used on this machine. */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
  constructor(
    message: string,
    readonly provider: string,
  ) {
    super(message);
  }
}

/**
 * Draws whose logits held NaN or an infinity: ArgMax would still name a class for them (NaN rows
 * become class 0), so no certificate may rest on them.
 */
export class NonFiniteLogitsError extends ModelError {
  override readonly name = "NonFiniteLogitsError";
  constructor(
    /** The chain at fault, with its certifier and, at load, the manifest field using it. */
    readonly where: string,
    readonly sigma: number,
    /** Draws of the batch with a non-finite logit. */
    readonly nonFinite: number,
    /** Draws in the batch. */
    readonly draws: number,
  ) {
    super(
      `${where} at sigma ${sigma}: ${nonFinite} of ${draws} draws gave non-finite logits (NaN or infinity), so the model cannot be certified`,
    );
  }
}
