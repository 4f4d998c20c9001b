import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { DatasetError } from "./errors.js";

/*
 * The IDX format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, a type byte, the number of dimensions, each dimension as a big-endian uint32,
 * then the values in C order, big-endian.
 */

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: IdxData;
}

interface IdxType {
  readonly width: number;
  readonly make: (length: number) => IdxData;
  readonly read: (view: DataView, offset: number) => number;
}

const types: Readonly<Record<number, IdxType>> = {
  8: { width: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  9: { width: 1, make: (n) => new Int8Array(n), read: (v, o) => v.getInt8(o) },
  11: { width: 2, make: (n) => new Int16Array(n), read: (v, o) => v.getInt16(o) },
  12: { width: 4, make: (n) => new Int32Array(n), read: (v, o) => v.getInt32(o) },
  13: { width: 4, make: (n) => new Float32Array(n), read: (v, o) => v.getFloat32(o) },
  14: { width: 8, make: (n) => new Float64Array(n), read: (v, o) => v.getFloat64(o) },
};

/** Parses IDX bytes, gzipped (by their magic 1f 8b) or not. */
export function parseIdx(raw: Uint8Array): IdxArray {
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? new Uint8Array(gunzipSync(raw)) : raw;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error("not an IDX file");
  const type = types[bytes[2] ?? 0];
  if (!type) throw new Error(`unknown IDX type 0x${(bytes[2] ?? 0).toString(16)}`);
  const rank = bytes[3] ?? 0;
  const start = 4 + 4 * rank;
  if (bytes.byteLength < start) throw new Error("truncated IDX header");
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength - start !== size * type.width) {
    throw new Error(
      `dims [${dims.join(", ")}] need ${size * type.width} data bytes; the file has ${bytes.byteLength - start}`,
    );
  }
  const data = type.make(size);
  // Bytes need no byte-order pass: copy them straight.
  if (type.width === 1) {
    data.set(bytes.subarray(start));
    return { dims, data };
  }
  for (let i = 0; i < size; i++) data[i] = type.read(view, start + i * type.width);
  return { dims, data };
}

/** Reads and parses an IDX file; a missing or malformed file is a DatasetError naming it. */
export async function readIdx(path: string): Promise<IdxArray> {
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw new DatasetError(`cannot read ${path}: ${e.code === "ENOENT" ? "no such file" : e.message}`, path);
  });
  try {
    return parseIdx(bytes);
  } catch (e) {
    throw new DatasetError(`${path}: ${(e as Error).message}`, path);
  }
}

/** Encodes an IDX file of unsigned bytes (for tests and small fixtures). */
export function encodeIdxUint8(dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out.set([0, 0, 0x08, dims.length]);
  for (const [i, d] of dims.entries()) view.setUint32(4 + 4 * i, d);
  out.set(Uint8Array.from(data), 4 + 4 * dims.length);
  return out;
}
