import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Manifest } from "../core/manifest.js";
import { IntegrityError, ManifestError } from "./errors.js";

/**
 * Where manifests and model files live. The certifier only talks to this interface, so a remote
 * store (S3) can sit behind it as well as a local folder.
 */
export interface ModelStore {
  /** Where the store lives, for messages: a folder, a bucket URL. */
  readonly location: string;
  /** Ids of the manifests in the store, sorted. */
  listManifests(): Promise<string[]>;
  /** The validated manifest named by `ref`: a manifest id, or the path (key) of a manifest file. */
  loadManifest(ref: string): Promise<Manifest>;
  /**
   * The bytes of model file `file` (`<sha256>.onnx`) of the manifest loaded by `ref` (the store
   * resolves `file` against that manifest's folder), verified against the sha256 in its name.
   */
  readModel(file: string, ref?: string): Promise<Uint8Array>;
}

const manifestId = /^[a-z0-9][a-z0-9._-]*$/;
const modelFile = /^([0-9a-f]{64})\.onnx$/;

/** Throws unless `ref` is a valid manifest id, so that a ref from a request never leaves the store. */
export function checkManifestId(ref: string): void {
  if (!manifestId.test(ref)) throw new ManifestError(`invalid manifest id "${ref}"`, ref);
}

/** The sha256 that model file name `file` (`<sha256>.onnx`) promises. */
export function modelDigest(file: string): string {
  const match = modelFile.exec(file);
  if (!match?.[1]) throw new Error(`model file "${file}" is not named <sha256>.onnx`);
  return match[1];
}

/** Manifest ids among file names (`<id>.json`), sorted. */
export function manifestIds(names: readonly string[]): string[] {
  return names
    .filter((n) => n.endsWith(".json"))
    .map((n) => n.slice(0, -".json".length))
    .filter((id) => manifestId.test(id))
    .sort();
}

/**
 * Parses and validates the text of manifest `ref` read from `file`: every store loads manifests
 * this way, so a manifest loaded by id must carry that id.
 */
export function readManifest(text: string, file: string, ref: string): Manifest {
  const manifest = parseManifest(text, file);
  if (!isManifestPath(ref) && manifest.id !== ref) {
    throw new ManifestError(`${file}: id: "${manifest.id}" does not match the file name`, file, ["id"]);
  }
  return manifest;
}

/** A ref with a path separator or a `.json` suffix is a file path; anything else is an id. */
export function isManifestPath(ref: string): boolean {
  return ref.includes("/") || ref.includes("\\") || ref.endsWith(".json");
}

/** A store over one local folder: `<dir>/<id>.json` manifests next to `<dir>/<sha256>.onnx` models. */
export function localModelStore(dir: string): ModelStore {
  const root = resolve(dir);
  const manifestFile = (ref: string): string => {
    if (isManifestPath(ref)) return resolve(ref);
    checkManifestId(ref);
    return join(root, `${ref}.json`);
  };

  return {
    location: root,

    async listManifests() {
      return manifestIds(await readdir(root));
    },

    async loadManifest(ref) {
      const file = manifestFile(ref);
      return readManifest(await readManifestText(file), file, ref);
    },

    async readModel(file, ref) {
      const digest = modelDigest(file);
      const folder = ref === undefined ? root : dirname(manifestFile(ref));
      const path = join(folder, basename(file));
      const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
        throw new Error(`cannot read model file ${path}: ${e.code ?? e.message}`);
      });
      verifySha256(bytes, digest, path);
      return bytes;
    },
  };
}

async function readManifestText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such manifest" : (code ?? String(e));
    throw new ManifestError(`${file}: ${why}`, file);
  }
}

/** Parses and validates manifest text; the error names the file and every field at fault. */
export function parseManifest(text: string, file: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${file}: not valid JSON (${(e as Error).message})`, file);
  }
  const parsed = Manifest.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(pathKey), message: i.message }));
  const detail = issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join("; ");
  throw new ManifestError(`${file}: invalid manifest: ${detail}`, file, issues[0]?.path ?? []);
}

function pathKey(k: PropertyKey): string | number {
  return typeof k === "number" ? k : String(k);
}

/** `options[0].chain[1]`; the root is `(manifest)`. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return "(manifest)";
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

/** Throws IntegrityError unless `bytes` hash to `expected` (lowercase hex sha256). */
export function verifySha256(bytes: Uint8Array, expected: string, file: string): void {
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== expected) throw new IntegrityError(file, expected, actual);
}
