import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Manifest } from "../core/manifest.js";
import type { ImageDataset, Split } from "./dataset.js";
import { DatasetError } from "./errors.js";
import { type NpyArray, parseNpyArray } from "./npy.js";
import { readZip } from "./zip.js";

/**
 * A .npz of `x` (N, C, H, W) or (N, H, W, C) (or (N, H, W) for one channel) and `y` (N) class
 * indices into the certifier's labels. uint8 pixels are scaled from 0-255 onto the certifier's
 * range; floats are taken as they are.
 */
export async function loadNpz(path: string, manifest: Manifest, split: Split): Promise<ImageDataset> {
  const fail = (why: string) => new DatasetError(`${path}: ${why}`, path);
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw fail(e.code === "ENOENT" ? "no such file" : (e.code ?? e.message));
  });
  let x: NpyArray;
  let y: NpyArray;
  try {
    const members = readZip(bytes);
    const array = (name: string) => {
      const read = members.get(`${name}.npy`);
      if (!read) throw new Error(`no array "${name}" (it has ${[...members.keys()].join(", ") || "none"})`);
      return parseNpyArray(read());
    };
    [x, y] = [array("x"), array("y")];
  } catch (e) {
    throw fail((e as Error).message);
  }
  const shape = manifest.input.shape;
  const count = x.shape[0] ?? 0;
  const order = layout(x.shape.slice(1), shape);
  if (!order) {
    throw fail(
      `x has shape (${x.shape.join(", ")}); certifier "${manifest.id}" takes [${shape.join(", ")}]: give (N, ${shape.join(", ")}) or channels last`,
    );
  }
  if (y.shape.length !== 1 || y.shape[0] !== count)
    throw fail(`y has shape (${y.shape.join(", ")}); x holds ${count} images, so y needs (${count},)`);
  if (/[fc]/.test(y.descr.slice(1, 2))) throw fail(`y is ${y.descr}; class indices must be integers`);
  const labels = Array.from(y.data as ArrayLike<number | bigint>, Number);
  const bad = labels.findIndex((l) => !(l >= 0 && l < manifest.labels.length));
  if (bad >= 0)
    throw fail(
      `y[${bad}] = ${labels[bad]} is no class of certifier "${manifest.id}" (0 to ${manifest.labels.length - 1})`,
    );
  const isFloat = x.descr.slice(1, 2) === "f";
  if (!isFloat && x.descr.slice(1) !== "u1") throw fail(`x is ${x.descr}; give uint8 (0-255) or floats`);
  const [low, high] = manifest.input.range;
  const value = isFloat ? (v: number) => v : (v: number) => low + (v / 255) * (high - low);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = x.data as ArrayLike<number>;
  return {
    name: basename(path),
    split,
    size: count,
    shape,
    image(i) {
      checkIndex(i, count);
      const out = new Float32Array(size);
      for (let j = 0; j < size; j++) out[j] = value(data[i * size + (order[j] as number)] as number);
      return out;
    },
    label(i) {
      checkIndex(i, count);
      return labels[i] as number;
    },
  };
}

/**
 * For each value of an input of `shape` (C order), where it sits in one image of `dims`: the
 * identity when they match, a transpose for channels last, null when they do not fit.
 */
function layout(dims: readonly number[], shape: readonly number[]): Int32Array | null {
  const size = shape.reduce((a, b) => a * b, 1);
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i]);
  const [c = 0, h = 0, w = 0] = shape;
  if (same(dims, shape) || (c === 1 && shape.length === 3 && same(dims, [h, w])))
    return Int32Array.from({ length: size }, (_, j) => j);
  if (shape.length === 3 && same(dims, [h, w, c])) {
    // Value (ch, r, col) of the input is value (r, col, ch) of the array.
    return Int32Array.from({ length: size }, (_, j) => {
      const ch = Math.floor(j / (h * w));
      const rest = j % (h * w);
      return rest * c + ch;
    });
  }
  return null;
}

function checkIndex(i: number, count: number): void {
  if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`no image ${i} of ${count}`);
}
