import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleSdk } from "./bundle.js";

/** The checkout this module sits in (src/web/ is two levels down). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The page's folder as the server reads it (src/server/routes/web.ts): `public/` (served at `/` and
 * `/web/`), `sdk.js` (at `/sdk.js`) and `results/` (the evaluation's plots, at `/results/`).
 */
export const WEB_LAYOUT = { public: "public", sdk: "sdk.js", results: "results" } as const;

/** The evaluation's plots the page shows, from docs/results/, where the checkout has them. */
const RESULTS = ["certified-accuracy.png"];

/**
 * Writes the page's folder to `out` (default dist/web): the public files, the SDK's browser bundle
 * (`sdk`, else bundled here) and the results plots. It is assembled beside `out` and renamed into
 * place, so that a server never reads a half-written folder. With `replace` false, a folder that
 * another build put there first is kept (tests that build when dist/web is missing run in parallel).
 */
export async function buildWebAssets(
  out = join(ROOT, "dist", "web"),
  { sdk, replace = true }: { sdk?: string; replace?: boolean } = {},
): Promise<string> {
  const code = sdk ?? (await bundleSdk());
  await mkdir(dirname(out), { recursive: true });
  const stage = await mkdtemp(`${out}.tmp-`);
  try {
    await cp(join(ROOT, "src", "web", "public"), join(stage, WEB_LAYOUT.public), { recursive: true });
    await writeFile(join(stage, WEB_LAYOUT.sdk), code);
    await mkdir(join(stage, WEB_LAYOUT.results));
    for (const file of RESULTS) {
      const from = join(ROOT, "docs", "results", file);
      // A checkout (or the Docker build's context) without an evaluation has none.
      if (existsSync(from)) await cp(from, join(stage, WEB_LAYOUT.results, file));
    }
    await rename(stage, out).catch(async (e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (!(code === "ENOTEMPTY" || code === "EEXIST")) throw e;
      if (!replace) return;
      await rm(out, { recursive: true, force: true });
      await rename(stage, out);
    });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return out;
}
