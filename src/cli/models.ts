import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { localModelStore } from "../runtime/model-store.js";
import { parseS3Url } from "../runtime/open-model-store.js";
import { type S3Location, s3Client, s3Key } from "../runtime/s3-model-store.js";
import { UsageError } from "./errors.js";
import { createCertifier } from "./models-create.js";
import { modelsCreateUsage, parseCreateArgs } from "./models-create-args.js";

export const modelsUsage = `${modelsCreateUsage}
Usage: dualrs models push --manifest PATH --to s3://bucket/prefix [options]

Uploads a certifier: its model files (those already in the bucket are skipped), then its manifest,
as <prefix>/<id>.json, so that a reader never sees a manifest whose files are missing.

  --manifest PATH        certifier manifest (.json); its models are read next to it
  --to URL               s3://bucket/prefix
  --endpoint URL         S3-compatible endpoint (default: S3_ENDPOINT, else AWS S3)
  --region R             default: AWS_REGION, else us-east-1
`;

export interface PushResult {
  manifest: string;
  uploaded: string[];
  skipped: string[];
}

/**
 * `dualrs models create`: prints the certifier it made as JSON on stdout. `dualrs models push`:
 * prints what it uploaded and skipped as JSON on stdout.
 */
export async function modelsCommand(argv: string[], signal: AbortSignal): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === "create") {
    const result = await createCertifier(await parseCreateArgs(rest));
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  if (sub !== "push") throw new UsageError(`unknown models command "${sub ?? ""}"; try dualrs models --help`);
  const args = parsePushArgs(rest);
  const endpoint = args.endpoint ?? (process.env.S3_ENDPOINT || undefined);
  const client = s3Client({ endpoint, region: args.region });
  try {
    const result = await pushManifest(args.manifest, args.to, client, signal);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    client.destroy();
  }
}

interface PushArgs {
  manifest: string;
  to: S3Location;
  endpoint?: string | undefined;
  region?: string | undefined;
}

function parsePushArgs(argv: string[]): PushArgs {
  let values: Record<string, string | undefined>;
  try {
    const names = ["manifest", "to", "endpoint", "region"];
    const options = Object.fromEntries(names.map((name) => [name, { type: "string" as const }]));
    values = parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!values.manifest) throw new UsageError("--manifest PATH is required");
  if (!values.to) throw new UsageError("--to s3://bucket/prefix is required");
  const to = parseS3Url(values.to);
  if (!to) throw new UsageError(`--to: "${values.to}" is not of the form s3://bucket/prefix`);
  return { manifest: values.manifest, to, endpoint: values.endpoint, region: values.region };
}

/**
 * Validates the manifest at `path` and verifies its model files, uploads the files the bucket
 * lacks, then the manifest. Model keys are named by content, so a key already there (with the
 * right size) is skipped.
 */
export async function pushManifest(
  path: string,
  to: S3Location,
  client: S3Client,
  signal?: AbortSignal,
): Promise<PushResult> {
  const file = resolve(path);
  const local = localModelStore(dirname(file));
  const manifest = await local.loadManifest(file);
  const files = [...new Set(Object.values(manifest.models).map((m) => m.file))].sort();
  // Every file is read and verified before anything is uploaded: a bad zoo uploads nothing.
  const bytes = new Map(
    await Promise.all(files.map(async (f) => [f, await local.readModel(f, file)] as const)),
  );
  const result: PushResult = {
    manifest: `s3://${to.bucket}/${s3Key(to.prefix, `${manifest.id}.json`)}`,
    uploaded: [],
    skipped: [],
  };
  for (const f of files) {
    signal?.throwIfAborted();
    const key = s3Key(to.prefix, f);
    const body = bytes.get(f);
    // Same key, same content; a size that differs is a damaged object, uploaded again.
    if ((await objectSize(client, to.bucket, key)) === body?.length) {
      result.skipped.push(f);
      continue;
    }
    await client.send(
      new PutObjectCommand({
        Bucket: to.bucket,
        Key: key,
        Body: body,
        ContentType: "application/octet-stream",
      }),
      { abortSignal: signal },
    );
    result.uploaded.push(f);
  }
  signal?.throwIfAborted();
  // The manifest goes as it was written, last.
  await client.send(
    new PutObjectCommand({
      Bucket: to.bucket,
      Key: s3Key(to.prefix, `${manifest.id}.json`),
      Body: await readFile(file),
      ContentType: "application/json",
    }),
    { abortSignal: signal },
  );
  return result;
}

/** The size of object `key`, undefined when there is none. */
async function objectSize(client: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw e;
  }
}
