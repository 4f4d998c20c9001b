import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Manifest } from "../core/manifest.js";
import { type ImageDataset, loadFashionMnist, type Split } from "./dataset.js";
import { DatasetError } from "./errors.js";
import { loadImageFolder } from "./image-folder.js";
import { loadNpz } from "./npz.js";

/** The layouts `--data` takes, for usage texts. */
export const dataLayouts = `a folder of IDX files (MNIST, Fashion-MNIST: t10k-* for --split test,
                         train-* for train), a .npz with x (N,C,H,W or N,H,W,C; uint8 0-255
                         or floats) and y (class indices), or an image folder with one
                         subfolder of PNG/JPEG files per class, named by the certifier's labels`;

/**
 * The data at `path` as inputs of `manifest`'s certifier, in its shape and range: IDX files (of
 * `split`), a .npz, or an image folder (ImageFolder), told apart by what is there.
 */
export async function loadDataset(path: string, split: Split, manifest: Manifest): Promise<ImageDataset> {
  if (path.toLowerCase().endsWith(".npz")) return loadNpz(path, manifest, split);
  if (existsSync(path) && !statSync(path).isDirectory())
    throw new DatasetError(`${path}: not a .npz, nor a folder of IDX files or class subfolders`, path);
  const prefix = split === "test" ? "t10k" : "train";
  const idx = [`${prefix}-images-idx3-ubyte`, `${prefix}-images-idx3-ubyte.gz`].some((f) =>
    existsSync(join(path, f)),
  );
  const classes = existsSync(path) && readdirSync(path, { withFileTypes: true }).some((e) => e.isDirectory());
  if (classes && !idx) return loadImageFolder(path, manifest, split);
  // IDX files; when they are missing, loadFashionMnist says where they come from.
  return inRange(await loadFashionMnist(path, split), manifest);
}

/** IDX pixels are read in [0, 1]: mapped onto the certifier's range. */
function inRange(dataset: ImageDataset, manifest: Manifest): ImageDataset {
  const [low, high] = manifest.input.range;
  if (low === 0 && high === 1) return dataset;
  return {
    ...dataset,
    image(i) {
      return dataset.image(i).map((v) => low + v * (high - low));
    },
    label: (i) => dataset.label(i),
  };
}
