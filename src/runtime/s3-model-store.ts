import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import type { Manifest } from "../core/manifest.js";
import { IntegrityError, ManifestError } from "./errors.js";
import {
  checkManifestId,
  isManifestPath,
  type ModelStore,
  manifestIds,
  modelDigest,
  readManifest,
  verifySha256,
} from "./model-store.js";

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slashes; empty for the bucket's root. */
  prefix: string;
}

export interface S3ClientOptions {
  /** Endpoint of an S3-compatible store (MinIO, s3rver, ...); absent for AWS S3. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** `bucket` in the path rather than the host name; the default with a custom endpoint. */
  forcePathStyle?: boolean | undefined;
  credentials?: S3ClientConfig["credentials"];
}

export interface S3ModelStoreOptions extends S3Location, S3ClientOptions {
  /** Local folder that keeps verified copies of manifests and models. */
  cacheDir: string;
  /** A client to use instead of one built from the options above. */
  client?: S3Client | undefined;
}

/** An S3 client for a model store; custom endpoints get the path style that S3-compatible stores expect. */
export function s3Client(options: S3ClientOptions): S3Client {
  const custom = options.endpoint !== undefined;
  return new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
    ...(custom ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? custom,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Every model file is verified against its sha256 anyway; S3-compatible stores may reject the
    // newer flexible checksums, so they are sent only where an operation requires them.
    ...(custom
      ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }
      : {}),
  });
}

/** Joins key parts under a prefix: `models` + `a.json` -> `models/a.json`, `` + `a.json` -> `a.json`. */
export function s3Key(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}/${name}`;
}

/**
 * A store over `s3://bucket/prefix`: `<id>.json` manifests next to `<sha256>.onnx` models, as in a
 * local zoo folder. Files are read into `cacheDir`; a model file is named by its content, so a
 * verified cached copy is used without any request. Manifests can change, so each load asks S3
 * whether the cached copy is current (If-None-Match), and uses it alone when S3 cannot be reached.
 */
export function s3ModelStore(options: S3ModelStoreOptions): ModelStore {
  const { bucket } = options;
  const prefix = trimSlashes(options.prefix);
  const client = options.client ?? s3Client(options);
  const location = `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
  const cachePath = (key: string) => join(options.cacheDir, bucket, ...key.split("/"));

  const manifestKey = (ref: string): string => {
    if (!isManifestPath(ref)) {
      checkManifestId(ref);
      return s3Key(prefix, `${ref}.json`);
    }
    // A path ref is a key relative to the prefix; it may name a sub-folder but never leave the prefix.
    const parts = ref.split("/");
    if (ref.includes("\\") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new ManifestError(`invalid manifest key "${ref}"`, ref);
    }
    return s3Key(prefix, ref);
  };

  return {
    location,

    async listManifests() {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: s3Key(prefix, ""),
            Delimiter: "/",
            ContinuationToken: token,
          }),
        );
        for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(s3Key(prefix, "").length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return manifestIds(names);
    },

    async loadManifest(ref): Promise<Manifest> {
      const key = manifestKey(ref);
      const url = `s3://${bucket}/${key}`;
      const path = cachePath(key);
      const cached = await readCachedManifest(path);
      let text: string;
      try {
        const object = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, IfNoneMatch: cached?.etag }),
        );
        text = (await object.Body?.transformToString("utf8")) ?? "";
        // Validated before it is cached, so that the cache only ever holds good manifests.
        const manifest = readManifest(text, url, ref);
        await writeAtomically(path, text);
        await writeAtomically(`${path}.etag`, object.ETag ?? "");
        return manifest;
      } catch (e) {
        if (cached && (status(e) === 304 || isUnreachable(e))) return readManifest(cached.text, url, ref);
        if (status(e) === 404) throw new ManifestError(`${url}: no such manifest`, url);
        if (e instanceof ManifestError) throw e;
        throw new ManifestError(`${url}: cannot read the manifest: ${describe(e)}`, url);
      }
    },

    async readModel(file, ref) {
      const digest = modelDigest(file);
      const folder = ref === undefined ? prefix : posix.dirname(manifestKey(ref));
      const key = s3Key(folder === "." ? "" : folder, file);
      const url = `s3://${bucket}/${key}`;
      const path = cachePath(key);
      const cached = await readFile(path).catch(() => undefined);
      if (cached) {
        try {
          verifySha256(cached, digest, path);
          return cached;
        } catch {
          // A damaged cached copy is dropped and read again from S3.
          await rm(path, { force: true });
        }
      }
      let object: GetObjectCommandOutput;
      try {
        object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      } catch (e) {
        const why = status(e) === 404 ? "no such object" : describe(e);
        throw new Error(`cannot read model file ${url}: ${why}`);
      }
      const bytes = (await object.Body?.transformToByteArray()) ?? new Uint8Array();
      // Throws IntegrityError for a corrupt object, before anything is cached.
      verifySha256(bytes, digest, url);
      await writeAtomically(path, bytes);
      return bytes;
    },
  };
}

function trimSlashes(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

async function readCachedManifest(
  path: string,
): Promise<{ text: string; etag: string | undefined } | undefined> {
  try {
    const text = await readFile(path, "utf8");
    const etag = await readFile(`${path}.etag`, "utf8").catch(() => "");
    return { text, etag: etag === "" ? undefined : etag };
  } catch {
    return undefined;
  }
}

/** Writes through a temporary file and a rename, so that a reader never sees half a file. */
async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The HTTP status of an S3 error; undefined when no answer came back. */
function status(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** The request never got an answer: connection refused, DNS, timeout. */
function isUnreachable(e: unknown): boolean {
  return status(e) === undefined && !(e instanceof ManifestError) && !(e instanceof IntegrityError);
}

function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string };
  return [err.name, err.code ?? err.message].filter(Boolean).join(": ");
}
