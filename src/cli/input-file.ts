import { readFile } from "node:fs/promises";
import { extname } from "node:path";
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

const npyMagic = "\x93NUMPY";

/** A `.npy` file (format 1.0 to 3.0) of little-endian float32 or float64 in C order. */
export function parseNpy(bytes: Uint8Array): InputValues {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 10 || String.fromCharCode(...bytes.subarray(0, 6)) !== npyMagic) {
    throw new Error("not a .npy file");
  }
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new Error("bad .npy header");
  if (fortran === "True") throw new Error("Fortran-ordered arrays are not supported; save a C-ordered array");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const size = shape.reduce((a, b) => a * b, 1);
  const width = descr === "<f4" ? 4 : descr === "<f8" ? 8 : 0;
  if (width === 0) throw new Error(`dtype "${descr}" is not supported; use little-endian float32 or float64`);
  const offset = start + headerLength;
  if (bytes.byteLength - offset !== size * width) {
    throw new Error(
      `shape (${shape.join(", ")}) needs ${size * width} data bytes; the file has ${bytes.byteLength - offset}`,
    );
  }
  const read = (i: number) =>
    width === 4 ? view.getFloat32(offset + 4 * i, true) : view.getFloat64(offset + 8 * i, true);
  return { data: Float32Array.from({ length: size }, (_, i) => read(i)), shape };
}
