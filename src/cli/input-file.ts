import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseNpyArray } from "../eval/npy.js";
import { ImageError, imageDecoder, type RgbaImage } from "../runtime/image/index.js";
import { UsageError } from "./errors.js";

/** Values read from a file, and their shape when the file states one. */
export interface InputValues {
  readonly data: Float32Array;
  readonly shape?: readonly number[] | undefined;
}

/** An input read from a file: values, or an image that the certifier's manifest makes values of. */
export type InputFile = InputValues | { readonly image: RgbaImage };

export const inputFormats = ".json, .npy, .f32, .bin, .png, .jpg or .jpeg";

const imageExtensions = [".png", ".jpg", ".jpeg"];

/**
 * Reads an input: `.json` (array or { shape, data }), `.npy` (float32/64 LE), raw float32 LE
 * `.f32`/`.bin`, or a PNG or JPEG image (decoded as the service decodes one, within its pixel limit).
 */
export async function readInputFile(path: string): Promise<InputFile> {
  const ext = extname(path).toLowerCase();
  if (![".json", ".npy", ".f32", ".bin", ...imageExtensions].includes(ext)) {
    throw new UsageError(`${path}: unsupported input format "${ext}"; use ${inputFormats}`);
  }
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(
      `cannot read input ${path}: ${e.code === "ENOENT" ? "no such file" : (e.code ?? e.message)}`,
    );
  });
  if (imageExtensions.includes(ext)) {
    return {
      image: await imageDecoder()
        .decode(bytes)
        .catch((e: unknown) => {
          throw e instanceof ImageError ? new UsageError(`${path}: ${e.message}`) : e;
        }),
    };
  }
  try {
    if (ext === ".json") return parseJsonInput(bytes.toString("utf8"));
    if (ext === ".npy") return parseNpy(bytes);
    return { data: parseRawFloat32(bytes) };
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

export function parseJsonInput(text: string): InputValues {
  const json: unknown = JSON.parse(text);
  if (Array.isArray(json)) return { data: numbers(json.flat(Number.POSITIVE_INFINITY), "the array") };
  if (typeof json === "object" && json !== null && "data" in json && Array.isArray(json.data)) {
    const shape = "shape" in json ? numbers(json.shape, "shape") : undefined;
    return {
      data: numbers(json.data.flat(Number.POSITIVE_INFINITY), "data"),
      shape: shape && Array.from(shape),
    };
  }
  throw new Error('expected a number array or { "shape": [...], "data": [...] }');
}

function numbers(values: unknown, what: string): Float32Array {
  if (!Array.isArray(values) || !values.every((v) => typeof v === "number")) {
    throw new Error(`${what} must be an array of numbers`);
  }
  return Float32Array.from(values);
}

/** Raw float32, little-endian whatever the host's byte order. */
export function parseRawFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0)
    throw new Error(`${bytes.byteLength} bytes is not a whole number of float32 values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** A `.npy` file (format 1.0 to 3.0) of little-endian float32 or float64 in C order. */
export function parseNpy(bytes: Uint8Array): InputValues {
  const array = parseNpyArray(bytes);
  if (!(array.data instanceof Float32Array || array.data instanceof Float64Array)) {
    throw new Error(`dtype "${array.descr}" is not supported; use little-endian float32 or float64`);
  }
  return { data: Float32Array.from(array.data), shape: array.shape };
}
