import { InputError } from "../../core/errors.js";

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Bytes of a standard base64 string; an InputError at `path` when it is not one. */
export function decodeBase64(text: string, path: readonly (string | number)[]): Buffer {
  if (text.length % 4 !== 0 || !base64.test(text)) {
    throw new InputError("not valid base64 (standard alphabet, padded)", path);
  }
  return Buffer.from(text, "base64");
}

/** Little-endian float32 values from base64, whatever the host's byte order. */
export function float32FromBase64(text: string, path: readonly (string | number)[]): Float32Array {
  const bytes = decodeBase64(text, path);
  if (bytes.byteLength % 4 !== 0) {
    throw new InputError(`${bytes.byteLength} bytes is not a whole number of float32 values`, path);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}
