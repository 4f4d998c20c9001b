import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Context, Hono } from "hono";
import { bundleSdk } from "../../web/bundle.js";
import type { AppEnv } from "../env.js";
import { notFound, problemResponse, problemTypes } from "../middleware/problem.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
};

/** The package's root: the nearest folder above this module with a package.json (src or dist alike). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * The web page at `/`: static files from `src/web/public`, the SDK's browser bundle at `/sdk.js`
 * (built from source where esbuild is installed, else the one `npm run build` wrote), and the
 * zoo's certified-accuracy plot when the evaluation has produced it.
 */
export function webRoutes(root = packageRoot()): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const publicDir = join(root, "src", "web", "public");
  let sdk: Promise<string | null> | null = null;

  const file = async (c: Context<AppEnv>, path: string, maxAge = 0) => {
    const body = await readFile(path).catch(() => null);
    if (!body) return notFound(c);
    return new Response(body, {
      headers: {
        "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
        "Cache-Control": `public, max-age=${maxAge}`,
        "X-Content-Type-Options": "nosniff",
      },
    });
  };

  app.get("/", (c) => file(c, join(publicDir, "index.html")));
  app.get("/web/:path{.+}", (c) => {
    const path = normalize(join(publicDir, c.req.param("path")));
    if (!path.startsWith(publicDir + sep)) return notFound(c);
    return file(c, path, 300);
  });
  app.get("/sdk.js", async (c) => {
    sdk ??= sdkBundle(root);
    const code = await sdk;
    if (code === null) {
      sdk = null;
      return problemResponse(c, {
        type: problemTypes.notReady,
        title: "Service Unavailable",
        status: 503,
        detail: "the SDK bundle is missing: run npm run build",
      });
    }
    return c.body(code, 200, { "Content-Type": TYPES[".js"] as string, "Cache-Control": "no-cache" });
  });
  app.get("/results/certified-accuracy.png", (c) =>
    file(c, join(root, "docs", "results", "certified-accuracy.png"), 300),
  );
  return app;
}

/** The bundle built from source, else the prebuilt one, else null. */
async function sdkBundle(root: string): Promise<string | null> {
  const source = join(root, "src", "sdk", "index.ts");
  if (existsSync(source)) {
    const built = await bundleSdk(source).catch(() => null);
    if (built) return built;
  }
  return readFile(join(root, "dist", "sdk", "dualrs.min.js"), "utf8").catch(() => null);
}
