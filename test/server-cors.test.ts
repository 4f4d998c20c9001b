import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/server/config.js";
import { hashApiKey } from "../src/server/middleware/auth.js";
import { bundleSdk } from "../src/web/bundle.js";
import { launchChromium } from "./helpers/chromium.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const KEY = "cors-test-key";
const APP = "https://app.example.com";
const body = { certifier: "half", input: { type: "tensor", shape: [2], data: [0.2, 0.1] } };

let listed: TestServer;
let any: TestServer;
let none: TestServer;

beforeAll(async () => {
  [listed, any, none] = await Promise.all([
    startTestServer({ CORS_ORIGINS: `${APP}, http://localhost:5173`, API_KEYS: hashApiKey(KEY) }),
    startTestServer({ CORS_ORIGINS: "*" }),
    startTestServer(),
  ]);
});

afterAll(async () => {
  await Promise.all([listed?.stop(), any?.stop(), none?.stop()]);
});

/** A preflight as a browser sends it before a cross-origin POST /certify from the SDK. */
const preflight = (server: TestServer, origin: string) =>
  server.call("/certify", {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,idempotency-key,prefer",
    },
  });

const list = (header: string | null) => (header ?? "").split(",").map((h) => h.trim().toLowerCase());

describe("CORS with listed origins", () => {
  it("answers a preflight from a listed origin without an API key, allowing the SDK's headers", async () => {
    const res = await preflight(listed, APP);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(list(res.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type", "idempotency-key", "prefer"]),
    );
    expect(list(res.headers.get("access-control-allow-methods"))).toEqual(
      expect.arrayContaining(["get", "post", "delete"]),
    );
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(list(res.headers.get("vary"))).toContain("origin");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("lets a listed origin read the headers the SDK reads on an actual request", async () => {
    const res = await listed.call("/certify", {
      method: "POST",
      json: body,
      headers: {
        origin: "http://localhost:5173",
        authorization: `Bearer ${KEY}`,
        "idempotency-key": "cors-1",
      },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toMatch(/^\/certify\//);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(list(res.headers.get("access-control-expose-headers"))).toEqual(
      expect.arrayContaining([
        "location",
        "retry-after",
        "x-request-id",
        "link",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
      ]),
    );
    expect(list(res.headers.get("vary"))).toContain("origin");
  });

  it("lets a listed origin read problems too (a missing key, an unknown certifier)", async () => {
    const unauthorized = await listed.call("/certify", {
      method: "POST",
      json: body,
      headers: { origin: APP },
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe(APP);
    const missing = await listed.call("/certifiers/nope", {
      headers: { origin: APP, authorization: `Bearer ${KEY}` },
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("grants nothing to an origin that is not listed", async () => {
    const pre = await preflight(listed, "https://evil.example.net");
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const res = await listed.call("/certifiers", {
      headers: { origin: "https://evil.example.net", authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS for any origin, and by default none", () => {
  it("allows every origin with *", async () => {
    const pre = await preflight(any, "https://anywhere.example.org");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    const res = await any.call("/certifiers", { headers: { origin: "https://anywhere.example.org" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("sends no CORS headers unless configured, so pages on other origins cannot read answers", async () => {
    const pre = await preflight(none, APP);
    expect(pre.status).not.toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const res = await none.call("/certifiers", { headers: { origin: APP } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-expose-headers")).toBeNull();
  });

  it("validates CORS_ORIGINS", () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: " * " }).corsOrigins).toBe("*");
    expect(loadConfig({ CORS_ORIGINS: "https://a.example, http://localhost:3000" }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:3000",
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: "https://a.example/app" })).toThrow(
      /CORS_ORIGINS .*not an origin/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: "a.example" })).toThrow(/CORS_ORIGINS/);
  });
});

describe("CORS in a real browser", () => {
  let page: Server;
  let api: TestServer;
  let browser: Browser;
  let bundle: string;

  beforeAll(async () => {
    // A page server on another loopback port: http://127.0.0.1:<its port> is another origin than the API's.
    page = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>app</title>");
    });
    await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
    const port = (page.address() as AddressInfo).port;
    [api, browser, bundle] = await Promise.all([
      startTestServer({ CORS_ORIGINS: `http://127.0.0.1:${port}`, API_KEYS: hashApiKey(KEY) }),
      launchChromium(),
      bundleSdk(),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
    await new Promise((resolve) => page?.close(resolve));
  });

  /** Runs the SDK and a plain fetch in a page of `origin` against the API; what the page could read. */
  async function fromPage(origin: string): Promise<unknown> {
    const tab = await browser.newPage();
    try {
      await tab.goto(`${origin}/`);
      const args = JSON.stringify([bundle, api.url, KEY]);
      // A string, not a function: the test runner would rewrite a function's dynamic import().
      return await tab.evaluate(`(async ([code, baseURL, apiKey]) => {
        const sdk = await import(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
        // No retries: a blocked answer would only be retried with backoff.
        const dualrs = new sdk.Dualrs({ baseURL, apiKey, maxRetries: 0 });
        try {
          const body = { certifier: "half", input: { type: "tensor", shape: [2], data: [0.2, 0.1] } };
          const job = await dualrs.certify.create(body, { idempotencyKey: "browser-1", wait: 30 });
          const missing = await dualrs.certifiers.get("nope").then(() => null, (e) => e);
          const res = await fetch(baseURL + "/certify", {
            method: "POST",
            headers: { authorization: "Bearer " + apiKey, "content-type": "application/json", "idempotency-key": "browser-1" },
            body: JSON.stringify(body),
          });
          return {
            status: job.status,
            missing: [missing.name, missing.status, typeof missing.requestId],
            location: res.headers.get("location") === "/certify/" + job.id,
            requestId: typeof res.headers.get("x-request-id"),
          };
        } catch (e) {
          return { error: e.name };
        }
      })(${args})`);
    } finally {
      await tab.close();
    }
  }

  it("lets the SDK on a listed origin certify, read problems and the exposed headers", async () => {
    const origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    expect(await fromPage(origin)).toEqual({
      status: "succeeded",
      missing: ["NotFoundError", 404, "string"],
      location: true,
      requestId: "string",
    });
  });

  it("blocks the same SDK on an origin that is not listed", async () => {
    // localhost is the same loopback page server, but another origin than 127.0.0.1.
    const origin = `http://localhost:${(page.address() as AddressInfo).port}`;
    // The browser withholds the answer, which the SDK can only report as a failed connection.
    expect(await fromPage(origin)).toEqual({ error: "APIConnectionError" });
  });
});
