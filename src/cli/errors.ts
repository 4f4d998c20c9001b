/** The command line or an input file is wrong: the caller's fault, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
