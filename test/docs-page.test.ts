import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { gunzipSync } from "node:zlib";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docsRoutes } from "../src/server/routes/docs.js";
import { launchChromium } from "./helpers/chromium.js";
import { type SdkServer, startSdkServer } from "./helpers/sdk-server.js";

/** The policy that the pages must work under: scripts from the server itself only, none inline. */
const CSP = "script-src 'self'";

const standalone = createRequire(import.meta.url).resolve("@scalar/api-reference/browser/standalone.js");

let server: SdkServer;
let browser: Browser;

beforeAll(async () => {
  server = await startSdkServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("the API reference page", () => {
  it("serves Scalar's bundle from the npm package, cached for good under its versioned URL", async () => {
    const app = docsRoutes();
    const html = await (await app.request("/docs")).text();
    const src = html.match(/<script src="([^"]+)"><\/script>/)?.[1] ?? "";
    expect(src).toMatch(/^\/docs\/scalar\.js\?v=[0-9a-f]{16}$/);
    // No inline script to allow: the only other script element is Scalar's settings, as data.
    expect(html.match(/<script[^>]*>/g)).toEqual([
      expect.stringContaining('type="application/json"'),
      `<script src="${src}">`,
    ]);
    const res = await app.request(src);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const bundle = await readFile(standalone);
    expect(Buffer.from(await res.arrayBuffer()).equals(bundle)).toBe(true);
    // Another version's URL (a page cached before an upgrade) gets this bundle, not cached for good.
    const stale = await app.request("/docs/scalar.js?v=0000000000000000");
    expect(stale.headers.get("cache-control")).toBe("no-cache");
    const gz = await app.request(src, { headers: { "Accept-Encoding": "gzip" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    const zipped = Buffer.from(await gz.arrayBuffer());
    expect(zipped.length).toBeLessThan(bundle.length / 2);
    expect(gunzipSync(zipped).equals(bundle)).toBe(true);
  });

  it("renders the API reference in Chromium with no network beyond the server, under a strict CSP", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origin = new URL(server.url).origin;
    const outside: string[] = [];
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    // The network is cut: only the server on loopback answers; the documents carry the CSP.
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (!url.startsWith(`${origin}/`)) {
        outside.push(url);
        return route.abort("internetdisconnected");
      }
      if (route.request().resourceType() !== "document") return route.continue();
      const res = await route.fetch();
      return route.fulfill({ response: res, headers: { ...res.headers(), "content-security-policy": CSP } });
    });
    await page.goto(`${server.url}/docs`);
    await page.getByText("Request a certificate").first().waitFor({ state: "visible", timeout: 30_000 });
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    await mkdir("out/web", { recursive: true });
    await page.screenshot({ path: "out/web/docs.png" });
    await page.close();
  });
});
