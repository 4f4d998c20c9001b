import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ManifestInput } from "../../src/core/manifest.js";

/** Writes models named by sha256 and a manifest into `dir`, as a zoo folder. */
export async function writeCertifier(
  dir: string,
  manifest: Omit<ManifestInput, "models" | "schemaVersion">,
  models: Record<string, { bytes: Uint8Array; sigmaInput?: string }>,
): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const entries: ManifestInput["models"] = {};
  const digests: Record<string, string> = {};
  for (const [name, { bytes, sigmaInput }] of Object.entries(models)) {
    const digest = createHash("sha256").update(bytes).digest("hex");
    await writeFile(join(dir, `${digest}.onnx`), bytes);
    entries[name] = { file: `${digest}.onnx`, ...(sigmaInput ? { sigmaInput } : {}) };
    digests[name] = digest;
  }
  await writeFile(
    join(dir, `${manifest.id}.json`),
    JSON.stringify({ schemaVersion: 1, ...manifest, models: entries }),
  );
  return digests;
}
