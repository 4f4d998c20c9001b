/**
 * npm run sdk:pack [-- <folder>], after npm run build: packs the SDK alone into
 * dualrs-sdk-<version>.tgz in <folder> (default dist/), a package named dualrs with only the ./sdk
 * export and no dependency, so that an app installs the client (`npm install dualrs-sdk-0.1.0.tgz`,
 * offline too) without the server's dependencies (onnxruntime-node, the AWS SDK, ...). Prints the
 * tarball's path.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const out = resolve(process.argv[2] ?? join(root, "dist"));
const FILES = ["index.js", "index.d.ts", "dualrs.min.js"];
const missing = FILES.filter((f) => !existsSync(join(root, "dist/sdk", f)));
if (missing.length > 0) {
  console.error(`dist/sdk lacks ${missing.join(", ")}: run npm run build first`);
  process.exit(1);
}

const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
// The same layout as the full package, so that its "./sdk" export applies as it is.
const stage = await mkdtemp(join(tmpdir(), "dualrs-sdk-pack-"));
await mkdir(join(stage, "dist/sdk"), { recursive: true });
for (const f of FILES) await copyFile(join(root, "dist/sdk", f), join(stage, "dist/sdk", f));
const manifest = {
  name: pkg.name,
  version: pkg.version,
  description: "Typed client of the dualrs HTTP API (dualrs/sdk alone)",
  license: pkg.license,
  type: "module",
  sideEffects: false,
  exports: { "./sdk": pkg.exports["./sdk"] },
};
await writeFile(join(stage, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);

await mkdir(out, { recursive: true });
const [packed] = JSON.parse(
  execFileSync("npm", ["pack", "--json", "--pack-destination", out], {
    cwd: stage,
    encoding: "utf8",
  }),
) as { filename: string }[];
if (!packed) throw new Error("npm pack wrote no tarball");
// npm names it after the package (dualrs-<version>.tgz), as it would the full package: renamed apart.
const tarball = join(out, `dualrs-sdk-${pkg.version}.tgz`);
await rename(join(out, packed.filename), tarball);
await rm(stage, { recursive: true, force: true });
console.log(tarball);
