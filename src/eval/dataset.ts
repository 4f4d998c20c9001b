import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatasetError } from "./errors.js";
import { readIdx } from "./idx.js";

/** Labelled images, read one at a time so that only the raw bytes stay in memory. */
export interface ImageDataset {
  readonly name: string;
  readonly split: Split;
  readonly size: number;
  /** Shape of one image, without the batch axis. */
  readonly shape: readonly number[];
  /** Image i as a certifier's input (loadFashionMnist: scaled to [0, 1]; loadDataset: to its range). */
  image(i: number): Float32Array;
  label(i: number): number;
}

export type Split = "train" | "test";

/** Where Debian's package dataset-fashion-mnist installs the files; DUALRS_DATA overrides it. */
export const DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist";

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DUALRS_DATA || DEFAULT_DATA_DIR;
}

/** The class names of Fashion-MNIST, in label order (Xiao, Rasul, Vollgraf 2017). */
export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

/**
 * Fashion-MNIST (or MNIST) from its IDX files in `dir`, gzipped or not: `t10k-*` for the test
 * split, `train-*` for the training split. Pixels are bytes; an image is pixels / 255, shape [1, 28, 28].
 */
export async function loadFashionMnist(dir: string, split: Split = "test"): Promise<ImageDataset> {
  const prefix = split === "test" ? "t10k" : "train";
  const [images, labels] = await Promise.all([
    readIdx(findFile(dir, `${prefix}-images-idx3-ubyte`)),
    readIdx(findFile(dir, `${prefix}-labels-idx1-ubyte`)),
  ]);
  const [count = 0, rows = 0, cols = 0] = images.dims;
  if (images.dims.length !== 3 || !(images.data instanceof Uint8Array)) {
    throw new DatasetError(`${dir}: the ${split} images are not an IDX array of bytes [N, rows, cols]`, dir);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    throw new DatasetError(
      `${dir}: ${count} ${split} images but labels of shape [${labels.dims.join(", ")}]`,
      dir,
    );
  }
  const pixels = images.data;
  const size = rows * cols;
  return {
    name: "fashion-mnist",
    split,
    size: count,
    shape: [1, rows, cols],
    image(i) {
      checkIndex(i, count);
      const out = new Float32Array(size);
      for (let j = 0; j < size; j++) out[j] = (pixels[i * size + j] ?? 0) / 255;
      return out;
    },
    label(i) {
      checkIndex(i, count);
      return labels.data[i] ?? 0;
    },
  };
}

/** `name.gz` or `name`; a missing file says where it comes from. */
function findFile(dir: string, name: string): string {
  for (const file of [`${name}.gz`, name]) {
    const path = join(dir, file);
    if (existsSync(path)) return path;
  }
  throw new DatasetError(
    `no ${name}(.gz) in ${dir}: install the Debian package dataset-fashion-mnist, or point --data (or DUALRS_DATA) at a folder with the IDX files`,
    join(dir, name),
  );
}

function checkIndex(i: number, count: number): void {
  if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`no image ${i} of ${count}`);
}
