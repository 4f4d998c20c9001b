/** Bad input or parameters: the caller's fault, with the path of the field at fault. */
export class InputError extends Error {
  override readonly name = "InputError";
  constructor(
    message: string,
    /** Path of the field at fault, for example ["parameters", "n"]. */
    readonly path: readonly (string | number)[] = [],
  ) {
    super(message);
  }
}

/** A model that does not fit its manifest or misbehaves at run time. */
export class ModelError extends Error {
  // Typed string, not the literal, so that subclasses can name themselves.
  override readonly name: string = "ModelError";
}
