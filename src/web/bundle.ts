import { fileURLToPath } from "node:url";

/** The SDK bundle's budget: minified and gzipped. */
export const SDK_GZIP_BUDGET = 6 * 1024;

/** Held in a variable so that tsup leaves the import alone rather than bundle esbuild into dist. */
const ESBUILD = "esbuild";

/** The SDK's browser entry: `src/sdk/index.ts` beside this folder. */
const ENTRY = fileURLToPath(new URL("../sdk/index.ts", import.meta.url));

/**
 * The SDK as one minified ES module for browsers, workers, Deno and Bun: what the web page loads
 * and what the size budget is measured on. esbuild is a build-time tool, so it is loaded only here.
 */
export async function bundleSdk(entry = ENTRY): Promise<string> {
  const { build }: typeof import("esbuild") = await import(ESBUILD);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    legalComments: "none",
    write: false,
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error("esbuild produced no output for the SDK bundle");
  return file.text;
}
