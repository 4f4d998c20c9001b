import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushManifest } from "../src/cli/models.js";
import { certifyInput } from "../src/core/index.js";
import {
  IntegrityError,
  loadCertifier,
  localModelStore,
  ManifestError,
  openModelStore,
  type RuntimeCertifier,
  s3Client,
} from "../src/runtime/index.js";
import { halfSpaceModel, linearModel } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

// s3rver accepts these fixed credentials; nothing here may look for real ones.
const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: "true",
};

const base = { input: { shape: [2], range: [-1, 1] as [number, number] }, labels: ["neg", "pos"] };
const parameters = { n0: 50, n: 2000, alpha: 0.01, seed: 11 };
const x = [0.2, 0.1];

let dir: string;
let zoo: string;
let server: S3rver;
let serving = false;
let endpoint: string;
let client: S3Client;
let digests: Record<string, string>;
const loaded: RuntimeCertifier[] = [];

const store = (cacheDir: string) =>
  openModelStore("s3://zoo/models", { cacheDir, endpoint, credentials, region: "us-east-1" });
const load = async (...args: Parameters<typeof loadCertifier>) => {
  const c = await loadCertifier(...args);
  loaded.push(c);
  return c;
};

function dualrs(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("npx", ["tsx", "src/cli/index.ts", ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-s3-"));
  zoo = join(dir, "zoo");
  server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: join(dir, "s3"),
    configureBuckets: [{ name: "zoo", configs: [] }],
  });
  const address = await server.run();
  serving = true;
  endpoint = `http://127.0.0.1:${address.port}`;
  client = s3Client({ endpoint, credentials });
  // Two certifiers that share a model file, as the real zoo's dual certifiers share experts.
  digests = await writeCertifier(
    zoo,
    { ...base, id: "half", options: [{ sigma: 0.25, chain: ["clf"] }] },
    { clf: { bytes: halfSpaceModel([3, 4], -0.5, [2]) } },
  );
  const other = linearModel(
    [
      [0, 1],
      [0, 2],
    ],
    [0, 0.1],
    [2],
  );
  await writeCertifier(
    zoo,
    {
      ...base,
      id: "pair",
      options: [
        { sigma: 0.25, chain: ["clf"] },
        { sigma: 0.5, chain: ["other"] },
      ],
    },
    { clf: { bytes: halfSpaceModel([3, 4], -0.5, [2]) }, other: { bytes: other } },
  );
});

afterAll(async () => {
  await Promise.all(loaded.map((c) => c.close()));
  client?.destroy();
  if (serving) await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function keys(): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: "zoo", Prefix: "models/" }));
  return (page.Contents ?? []).map((o) => o.Key ?? "").sort();
}

describe("dualrs models push", () => {
  it("uploads a manifest and its model files under the prefix", async () => {
    const run = await dualrs(
      "models",
      "push",
      "--manifest",
      join(zoo, "half.json"),
      "--to",
      "s3://zoo/models",
      "--endpoint",
      endpoint,
    );
    expect(run.stderr).not.toContain("dualrs:");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      manifest: "s3://zoo/models/half.json",
      uploaded: [`${digests.clf}.onnx`],
      skipped: [],
    });
    expect(await keys()).toEqual([`models/${digests.clf}.onnx`, "models/half.json"].sort());
  });

  it("skips model files already in the bucket, and uploads a damaged one again", async () => {
    const result = await pushManifest(join(zoo, "pair.json"), { bucket: "zoo", prefix: "models" }, client);
    expect(result.skipped).toEqual([`${digests.clf}.onnx`]);
    expect(result.uploaded).toHaveLength(1);
    expect(await keys()).toHaveLength(4);
    const key = `models/${digests.clf}.onnx`;
    await client.send(new PutObjectCommand({ Bucket: "zoo", Key: key, Body: "truncated" }));
    const again = await pushManifest(join(zoo, "half.json"), { bucket: "zoo", prefix: "models" }, client);
    expect(again.uploaded).toEqual([`${digests.clf}.onnx`]);
    const object = await client.send(new GetObjectCommand({ Bucket: "zoo", Key: key }));
    expect(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toEqual(
      await readFile(join(zoo, `${digests.clf}.onnx`)),
    );
  });

  it("uploads nothing for a manifest whose local model file is corrupt", async () => {
    const bad = join(dir, "bad-zoo");
    const d = await writeCertifier(
      bad,
      { ...base, id: "broken", options: [{ sigma: 0.25, chain: ["clf"] }] },
      { clf: { bytes: halfSpaceModel([1, 1], 0, [2]) } },
    );
    await writeFile(join(bad, `${d.clf}.onnx`), "not a model");
    const error = await pushManifest(
      join(bad, "broken.json"),
      { bucket: "zoo", prefix: "models" },
      client,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(await keys()).toHaveLength(4);
  });

  it("names the bad flag on a bad command line", async () => {
    const run = await dualrs("models", "push", "--manifest", join(zoo, "half.json"), "--to", "zoo/models");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--to");
  });
});

describe("S3 model store", () => {
  it("lists the manifests and certifies exactly as the local zoo does", async () => {
    const cacheDir = join(dir, "cache-a");
    const s3 = store(cacheDir);
    expect(s3.location).toBe("s3://zoo/models");
    expect(await s3.listManifests()).toEqual(["half", "pair"]);
    const fromS3 = await load(s3, "pair", { providers: ["cpu"] });
    const fromDisk = await load(localModelStore(zoo), "pair", { providers: ["cpu"] });
    expect(fromS3.digests).toEqual(fromDisk.digests);
    for (const sigma of [0.25, 0.5]) {
      const request = { ...parameters, mode: "global", sigma };
      const a = await certifyInput(fromS3, x, request);
      expect(a.prediction?.label).toBe("pos");
      expect(a.radius).toBeGreaterThan(0);
      expect(a).toEqual(await certifyInput(fromDisk, x, request));
    }
    expect(existsSync(join(cacheDir, "zoo", "models", `${digests.clf}.onnx`))).toBe(true);
  });

  it("rejects a corrupt object and does not cache it", async () => {
    const fake = "0".repeat(64);
    const manifest = JSON.parse(await readFile(join(zoo, "half.json"), "utf8"));
    manifest.id = "tampered";
    manifest.models.clf.file = `${fake}.onnx`;
    await client.send(
      new PutObjectCommand({ Bucket: "zoo", Key: "models/tampered.json", Body: JSON.stringify(manifest) }),
    );
    await client.send(
      new PutObjectCommand({
        Bucket: "zoo",
        Key: `models/${fake}.onnx`,
        Body: await readFile(join(zoo, `${digests.clf}.onnx`)),
      }),
    );
    const cacheDir = join(dir, "cache-b");
    const error = await loadCertifier(store(cacheDir), "tampered", { providers: ["cpu"] }).catch((e) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain(`s3://zoo/models/${fake}.onnx`);
    expect(error.message).toContain(`actual ${digests.clf}`);
    expect(existsSync(join(cacheDir, "zoo", "models", `${fake}.onnx`))).toBe(false);
  });

  it("replaces a damaged cached copy with the object from S3", async () => {
    const cacheDir = join(dir, "cache-a");
    const cached = join(cacheDir, "zoo", "models", `${digests.clf}.onnx`);
    await writeFile(cached, "damaged");
    const c = await load(store(cacheDir), "half", { providers: ["cpu"] });
    expect(c.digests.clf).toBe(digests.clf);
    expect(await readFile(cached)).toEqual(await readFile(join(zoo, `${digests.clf}.onnx`)));
    // The cached manifest is current: S3 answers 304 and the cached copy is used.
    expect((await load(store(cacheDir), "pair", { providers: ["cpu"] })).manifest.id).toBe("pair");
  });

  it("says which manifest is missing, and which field of an invalid one is at fault", async () => {
    const s3 = store(join(dir, "cache-c"));
    const missing = await loadCertifier(s3, "nope", { providers: ["cpu"] }).catch((e) => e);
    expect(missing).toBeInstanceOf(ManifestError);
    expect(missing.message).toBe("s3://zoo/models/nope.json: no such manifest");
    await client.send(
      new PutObjectCommand({
        Bucket: "zoo",
        Key: "models/invalid.json",
        Body: JSON.stringify({
          ...JSON.parse(await readFile(join(zoo, "half.json"), "utf8")),
          id: "invalid",
          labels: [],
        }),
      }),
    );
    const invalid = await s3.loadManifest("invalid").catch((e) => e);
    expect(invalid).toBeInstanceOf(ManifestError);
    expect(invalid.path).toEqual(["labels"]);
    expect(invalid.message).toContain("s3://zoo/models/invalid.json");
    const outside = await s3.loadManifest("../secret").catch((e) => e);
    expect(outside).toBeInstanceOf(ManifestError);
  });

  it("opens s3:// URLs at S3_ENDPOINT, and anything else as a local folder", async () => {
    const local = openModelStore(zoo, { cacheDir: join(dir, "unused") });
    expect(local.location).toBe(zoo);
    expect(await local.listManifests()).toEqual(["half", "pair"]);
    process.env.S3_ENDPOINT = endpoint;
    try {
      const s3 = openModelStore("s3://zoo/models/", { cacheDir: join(dir, "cache-e"), credentials });
      expect(s3.location).toBe("s3://zoo/models");
      expect((await s3.loadManifest("half")).id).toBe("half");
    } finally {
      delete process.env.S3_ENDPOINT;
    }
    expect(() => openModelStore("s3://", { cacheDir: dir })).toThrow("s3://bucket/prefix");
  });

  it("loads from its cache alone when S3 cannot be reached", async () => {
    await server.close();
    serving = false;
    const c = await load(store(join(dir, "cache-a")), "pair", { providers: ["cpu"] });
    const request = { ...parameters, mode: "global", sigma: 0.5 };
    const fromDisk = await load(localModelStore(zoo), "pair", { providers: ["cpu"] });
    expect(await certifyInput(c, x, request)).toEqual(await certifyInput(fromDisk, x, request));
    // Nothing was cached for this one, so it fails, naming the object.
    const error = await loadCertifier(store(join(dir, "cache-d")), "half", { providers: ["cpu"] }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.message).toContain("s3://zoo/models/half.json: cannot read the manifest");
  });
});
