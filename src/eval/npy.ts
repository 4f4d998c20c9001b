/*
 * The .npy format (numpy.lib.format, versions 1.0 to 3.0): magic, a header that is a Python dict
 * literal (descr, fortran_order, shape), then the values in C order.
 */

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  /** numpy's dtype string, for example "<f4" or "|u1". */
  readonly descr: string;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

type Maker = (buffer: ArrayBuffer, length: number) => NpyData;

/** Little-endian (or byte-wide) numeric dtypes; a Node host is little-endian, so views can be copied. */
const dtypes: Readonly<Record<string, { width: number; make: Maker }>> = {
  u1: { width: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  b1: { width: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  i1: { width: 1, make: (b, n) => new Int8Array(b, 0, n) },
  u2: { width: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  i2: { width: 2, make: (b, n) => new Int16Array(b, 0, n) },
  u4: { width: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  i4: { width: 4, make: (b, n) => new Int32Array(b, 0, n) },
  f4: { width: 4, make: (b, n) => new Float32Array(b, 0, n) },
  f8: { width: 8, make: (b, n) => new Float64Array(b, 0, n) },
  i8: { width: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  u8: { width: 8, make: (b, n) => new BigUint64Array(b, 0, n) },
};

export function parseNpyArray(bytes: Uint8Array): NpyArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 10 || String.fromCharCode(...bytes.subarray(0, 6)) !== "\x93NUMPY")
    throw new Error("not a .npy array");
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
  const order = descr[0];
  const type = dtypes[descr.slice(1)];
  if (!type || (type.width > 1 ? order !== "<" : order !== "|" && order !== "<")) {
    throw new Error(`dtype "${descr}" is not supported; use little-endian integers or floats`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  if (bytes.byteLength - offset !== size * type.width) {
    throw new Error(
      `shape (${shape.join(", ")}) needs ${size * type.width} data bytes; the array has ${bytes.byteLength - offset}`,
    );
  }
  // A copy: aligned for the typed array, and independent of the archive's bytes
  // (new Uint8Array, not slice: a Node Buffer's slice is a view of the whole file's memory)
  const copy = new Uint8Array(bytes.subarray(offset, offset + size * type.width));
  return { descr, shape, data: type.make(copy.buffer, size) };
}
