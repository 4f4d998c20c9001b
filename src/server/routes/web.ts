import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env.js";
import { notFound, problemResponse, problemTypes } from "../middleware/problem.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
};

/**
 * The page's folder that `npm run build` writes (src/web/assets.ts): dist/web beside the built
 * server, whose code sits in a shared chunk at dist/ or in an entry below it; from TypeScript source
 * (tsx, vitest), where this module is src/server/routes/web.ts, the checkout's dist/web.
 */
export function defaultWebDir(base = import.meta.url): string {
  if (base.endsWith(".ts")) return fileURLToPath(new URL("../../../dist/web", base));
  const built = ["./web", "../web"].map((path) => fileURLToPath(new URL(path, base)));
  return built.find((dir) => existsSync(join(dir, "public", "index.html"))) ?? (built[0] as string);
}

/**
 * The web page at `/`, from the folder `dir` that `npm run build` writes: its static files
 * (`public/`), the SDK's browser bundle at `/sdk.js` (`sdk.js`), and the zoo's certified-accuracy
 * plot when the evaluation had produced it (`results/`).
 */
export function webRoutes(dir: string = defaultWebDir()): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const publicDir = resolve(dir, "public");

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
    const code = await readFile(join(dir, "sdk.js"), "utf8").catch(() => null);
    if (code === null) {
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
    file(c, join(dir, "results", "certified-accuracy.png"), 300),
  );
  return app;
}
