import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultWebDir } from "../../src/server/routes/web.js";
import { buildWebAssets } from "../../src/web/assets.js";

/**
 * The page's folder a server run from source serves (the checkout's dist/web): `npm run build`
 * writes it before the suite; a test run alone builds it once when it is missing.
 */
export async function ensureWebBuild(): Promise<string> {
  const dir = defaultWebDir();
  if (!existsSync(join(dir, "public", "index.html")) || !existsSync(join(dir, "sdk.js"))) {
    await buildWebAssets(dir, { replace: false });
  }
  return dir;
}
