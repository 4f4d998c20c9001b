import { readdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { Manifest } from "../core/manifest.js";
import { decodeImageSync, imageToInput } from "../runtime/image/index.js";
import type { ImageDataset, Split } from "./dataset.js";
import { DatasetError } from "./errors.js";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);

/**
 * An image folder as torchvision's ImageFolder reads it: one subfolder per class, named by the
 * class, with PNG or JPEG files at any depth below it; classes and files in sorted order. Class
 * names are matched to the certifier's labels by name; each image is converted to the certifier's
 * shape (gray or RGB, resized) and range as the service converts uploaded images.
 */
export function loadImageFolder(dir: string, manifest: Manifest, split: Split): ImageDataset {
  const classes = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  if (classes.length === 0) throw new DatasetError(`${dir}: no class subfolders`, dir);
  const unknown = classes.filter((c) => !manifest.labels.includes(c));
  if (unknown.length > 0) {
    throw new DatasetError(
      `${dir}: class folders ${unknown.map((c) => `"${c}"`).join(", ")} are not labels of certifier "${manifest.id}" (${manifest.labels.join(", ")})`,
      dir,
    );
  }
  const files: { path: string; label: number }[] = [];
  for (const c of classes) {
    const label = manifest.labels.indexOf(c);
    for (const path of imagesUnder(join(dir, c))) files.push({ path, label });
  }
  if (files.length === 0)
    throw new DatasetError(`${dir}: no .png, .jpg or .jpeg files in the class folders`, dir);
  const image = (i: number): Float32Array => {
    const f = at(files, i);
    try {
      return imageToInput(manifest, decodeImageSync(readFileSync(f.path)), []);
    } catch (e) {
      throw new DatasetError(`${f.path}: ${(e as Error).message}`, f.path);
    }
  };
  // The first image now: a certifier that takes no images, or a broken file, fails before any work.
  image(0);
  return {
    name: basename(dir),
    split,
    size: files.length,
    shape: manifest.input.shape,
    image,
    label: (i) => at(files, i).label,
  };
}

/**
 * Image files below `dir`: a folder's own files sorted, then its subfolders' in sorted order, the
 * order of ImageFolder's sorted(os.walk(...)), so that image i here is image i there.
 */
function imagesUnder(dir: string): string[] {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  const files = entries
    .filter((e) => !e.isDirectory() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => join(dir, e.name));
  const below = entries.filter((e) => e.isDirectory()).flatMap((e) => imagesUnder(join(dir, e.name)));
  return [...files, ...below];
}

function at<T>(items: readonly T[], i: number): T {
  const item = items[i];
  if (!Number.isInteger(i) || item === undefined) throw new RangeError(`no image ${i} of ${items.length}`);
  return item;
}
