import { localModelStore, type ModelStore } from "./model-store.js";
import { type S3ClientOptions, type S3Location, s3ModelStore } from "./s3-model-store.js";

export interface OpenModelStoreOptions extends S3ClientOptions {
  /** Where an S3 store keeps its verified copies. */
  cacheDir: string;
}

/** `s3://bucket/prefix` as a bucket and a prefix; undefined for anything else. */
export function parseS3Url(url: string): S3Location | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match?.[1]) return undefined;
  return { bucket: match[1], prefix: (match[2] ?? "").replace(/\/+$/, "") };
}

/**
 * The model store at `url`: `s3://bucket/prefix` (its endpoint from the options or `S3_ENDPOINT`,
 * for S3-compatible stores) or a local folder.
 */
export function openModelStore(url: string, options: OpenModelStoreOptions): ModelStore {
  if (!url.startsWith("s3://")) return localModelStore(url);
  const location = parseS3Url(url);
  if (!location) throw new Error(`model store "${url}" is not of the form s3://bucket/prefix`);
  const endpoint = options.endpoint ?? (process.env.S3_ENDPOINT || undefined);
  return s3ModelStore({ ...options, ...location, endpoint });
}
