import { mkdir, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { bundleSdk, SDK_GZIP_BUDGET } from "./bundle.js";

/** `npm run sdk:bundle`: writes dist/sdk/dualrs.min.js and fails when it is over budget. */
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
