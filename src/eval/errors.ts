/** A data set file that is missing or malformed; names the file. */
export class DatasetError extends Error {
  override readonly name = "DatasetError";
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}
