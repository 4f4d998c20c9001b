import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Hono } from "hono";
import { compress } from "hono/compress";
import type { AppEnv } from "../env.js";

/**
 * Scalar's browser bundle from its npm package, found the way Node finds packages, so that it
 * resolves from src/ under tsx and from dist/ alike.
 */
const SCALAR = createRequire(import.meta.url).resolve("@scalar/api-reference/browser/standalone.js");

/**
 * Scalar's options: nothing fetched from scalar.com, neither its web fonts, nor telemetry, nor its
 * AI agent's registry, which it would otherwise ask for on every load of the page.
 */
const CONFIGURATION = { withDefaultFonts: false, telemetry: false, agent: { disabled: true } };

interface Bundle {
  body: Uint8Array;
  /** A digest of the bundle in its URL, so that a cached copy lasts until the bundle changes. */
  version: string;
}

/**
 * The API reference at `/docs`: Scalar's page over `/openapi.json`, with its script served from
 * here (`/docs/scalar.js`) rather than a CDN, so that it works offline. No inline script: Scalar
 * reads its settings from the `api-reference` element's attributes, so the page runs under a
 * Content-Security-Policy of `script-src 'self'`.
 */
export function docsRoutes(scalarFile = SCALAR): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let bundle: Promise<Bundle> | null = null;
  const load = () => {
    bundle ??= readFile(scalarFile).then((body) => ({
      body,
      version: createHash("sha256").update(body).digest("hex").slice(0, 16),
    }));
    return bundle;
  };

  app.get("/docs", async (c) => {
    const { version } = await load();
    return c.html(page(`/docs/scalar.js?v=${version}`));
  });
  // 3.5 MB of JavaScript: about 1 MB gzipped.
  app.use("/docs/scalar.js", compress());
  app.get("/docs/scalar.js", async (c) => {
    const { body, version } = await load();
    // Cached for good only under the URL that names this version.
    const current = c.req.query("v") === version;
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": current ? "public, max-age=31536000, immutable" : "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
  });
  return app;
}

function page(script: string): string {
  const configuration = JSON.stringify(CONFIGURATION).replaceAll('"', "&quot;");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>dualrs API</title>
  </head>
  <body>
    <script id="api-reference" type="application/json" data-url="/openapi.json" data-configuration="${configuration}"></script>
    <script src="${script}"></script>
  </body>
</html>
`;
}
