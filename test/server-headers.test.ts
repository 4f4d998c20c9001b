import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../src/server/middleware/auth.js";
import { launchChromium } from "./helpers/chromium.js";
import { type SdkServer, startSdkServer } from "./helpers/sdk-server.js";

/** Security headers on every answer, and the HTML pages working under their own CSP in Chromium. */

let server: SdkServer;
let keyed: SdkServer;
let browser: Browser;

beforeAll(async () => {
  [server, keyed, browser] = await Promise.all([
    startSdkServer(),
    startSdkServer({ API_KEYS: hashApiKey("k"), METRICS_TENANTS: "*" }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([server?.stop(), keyed?.stop()]);
});

describe("security headers", () => {
  it("sends X-Content-Type-Options: nosniff on every answer, errors included", async () => {
    const answers: [string, RequestInit, number][] = [
      ["/healthz", {}, 200],
      ["/metrics", {}, 200],
      ["/openapi.json", {}, 200],
      ["/certifiers", {}, 200],
      ["/certify", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }, 422],
      ["/certify", { method: "POST", body: "{}", headers: { "content-type": "text/plain" } }, 415],
      ["/certify/nope", {}, 404],
      ["/no-such-route", {}, 404],
      ["/", {}, 200],
      ["/web/style.css", {}, 200],
      ["/web/app.js", {}, 200],
      ["/sdk.js", {}, 200],
      ["/docs", {}, 200],
      ["/docs/scalar.js", { headers: { "accept-encoding": "gzip" } }, 200],
    ];
    for (const [path, init, status] of answers) {
      const res = await fetch(`${server.url}${path}`, init);
      await res.arrayBuffer();
      expect(res.status, path).toBe(status);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
    // Answered by the key check, before any route.
    const denied = await fetch(`${keyed.url}/certifiers`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("puts a Content-Security-Policy on the HTML pages, not on the API's answers", async () => {
    for (const path of ["/", "/docs"]) {
      const csp = (await fetch(`${server.url}${path}`)).headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("script-src 'self';");
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("object-src 'none'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toMatch(/script-src[^;]*'unsafe-(inline|eval)'/);
    }
    const web = (await fetch(`${server.url}/`)).headers.get("content-security-policy") ?? "";
    expect(web).toContain("style-src 'self';");
    for (const path of ["/certifiers", "/openapi.json", "/no-such-route"]) {
      expect((await fetch(`${server.url}${path}`)).headers.get("content-security-policy"), path).toBeNull();
    }
  });
});

/** A page on the server alone (anything else aborted), collecting CSP violations and script errors. */
async function openCut(path: string): Promise<{ page: Page; problems: string[]; outside: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const origin = new URL(server.url).origin;
  const problems: string[] = [];
  const outside: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || /^(data|blob):/.test(url)) return route.continue();
    outside.push(url);
    return route.abort("internetdisconnected");
  });
  // Violations the console might word differently, straight from the document.
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      // zod (in Scalar's bundle) tries `new Function("")` once to learn whether it may compile its
      // parsers, and parses without when it may not: a probe, not a failure.
      if (e.blockedURI === "eval" && e.sourceFile.includes("/docs/scalar.js")) return;
      console.error(
        `Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`,
      );
    });
  });
  await page.goto(`${server.url}${path}`);
  return { page, problems, outside };
}

describe("the pages under the server's own CSP, in Chromium", () => {
  it("certifies a sample image on the web page with no CSP violation", async () => {
    const { page, problems, outside } = await openCut("/");
    await page.locator("#certifier option").first().waitFor({ state: "attached" });
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Ankle boot" }).click();
    await page.fill("#n", "500");
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible", timeout: 60_000 });
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });

  it("renders the API reference with no CSP violation", async () => {
    const { page, problems, outside } = await openCut("/docs");
    await page.getByText("Request a certificate").first().waitFor({ state: "visible", timeout: 30_000 });
    // Scalar styles and lays out after it renders; give late violations a moment to be reported.
    await page.waitForTimeout(1000);
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });
});
