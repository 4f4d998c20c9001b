import { mkdir, writeFile } from "node:fs/promises";
import { relative } from "node:path";
import { gzipSync } from "node:zlib";
import { buildWebAssets } from "./assets.js";
import { bundleSdk, SDK_GZIP_BUDGET } from "./bundle.js";

/**
 * `npm run web:build` (the last step of `npm run build`): writes dist/sdk/dualrs.min.js, the page's
 * folder dist/web that the server serves, and fails when the SDK bundle is over budget.
 */
const code = await bundleSdk();
const gzipped = gzipSync(code, { level: 9 }).length;
await mkdir("dist/sdk", { recursive: true });
await writeFile("dist/sdk/dualrs.min.js", code);
console.log(
  `dist/sdk/dualrs.min.js: ${code.length} bytes minified, ${gzipped} gzipped (budget ${SDK_GZIP_BUDGET})`,
);
if (gzipped > SDK_GZIP_BUDGET) {
  console.error("the SDK bundle is over its size budget");
  process.exit(1);
}
console.log(`${relative(process.cwd(), await buildWebAssets(undefined, { sdk: code }))}: the web page`);
