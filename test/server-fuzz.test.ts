import { Agent, request as httpRequest } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Generated requests, valid and not: bodies that are garbage, random JSON, or near-valid
 * certification requests with one field off; random paths, queries and headers. None may get a
 * 5xx or crash the server, and every error must be problem+json.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  agent.destroy();
  await server?.stop();
});

// node:http with keep-alive: several times cheaper per request than fetch, which keeps 10,000 quick.
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    // Framed as fetch would: Node sends a DELETE's body unframed unless told its length.
    const framed =
      body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) };
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: framed, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const printable = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const smallNumber = fc.oneof(
  fc.integer({ min: -3, max: 40 }),
  fc.double({ noDefaultInfinity: true, noNaN: true }),
  fc.constantFrom(0, 1e308, -0, 0.5, 2 ** 53),
);
const anyValue = fc.oneof(
  fc.string({ maxLength: 8 }),
  smallNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(smallNumber, { maxLength: 3 }),
);

const parameters = fc.record(
  {
    mode: fc.oneof(fc.constantFrom("dual", "global"), anyValue),
    sigma: fc.oneof(fc.constantFrom(0.12, 0.25, 0.5), anyValue),
    n0: fc.oneof(fc.integer({ min: 1, max: 10 }), anyValue),
    n: fc.oneof(fc.integer({ min: 1, max: 30 }), anyValue),
    alpha: fc.oneof(fc.double({ min: 0.001, max: 0.5, noNaN: true }), anyValue),
    alphaSplit: fc.oneof(fc.double({ min: 0.01, max: 0.99, noNaN: true }), anyValue),
    batchSize: fc.oneof(fc.integer({ min: 1, max: 100 }), anyValue),
    seed: fc.oneof(fc.integer({ min: 0, max: 1000 }), anyValue),
    fallback: fc.oneof(fc.constantFrom(0, 1, 2, null), anyValue),
    extra: anyValue,
  },
  { requiredKeys: [] },
);

const base64 = fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b).toString("base64"));
const input = fc.oneof(
  fc.record({
    type: fc.constant("tensor"),
    shape: fc.oneof(fc.constant([2]), fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 4 })),
    data: fc.oneof(
      fc.array(fc.double({ min: -1.5, max: 1.5, noNaN: true }), { minLength: 0, maxLength: 4 }),
      base64,
      fc.string({ maxLength: 12 }),
      fc.array(anyValue, { maxLength: 3 }),
    ),
  }),
  fc.record({ type: fc.constant("image"), data: fc.oneof(base64, fc.string({ maxLength: 12 })) }),
  fc.record({ type: fc.string({ maxLength: 6 }), data: anyValue }),
  anyValue,
);

const certifyBody = fc.record(
  {
    certifier: fc.oneof(fc.constantFrom("half", "dual-half", "bright"), fc.string({ maxLength: 12 })),
    input,
    parameters: fc.oneof(parameters, anyValue),
    webhook: fc.oneof(
      fc.record(
        {
          url: fc.oneof(fc.webUrl(), fc.string({ maxLength: 10 })),
          events: fc.array(fc.string({ maxLength: 12 }), { maxLength: 2 }),
        },
        { requiredKeys: ["url"] },
      ),
      anyValue,
    ),
    metadata: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
      anyValue,
    ),
    extra: anyValue,
  },
  { requiredKeys: ["certifier"] },
);

/** Valid requests at tiny n, so that some real jobs run among the rest. */
const validBody = fc
  .record({
    certifier: fc.constantFrom("half", "dual-half"),
    input: fc.record({
      type: fc.constant("tensor"),
      shape: fc.constant([2]),
      data: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 2 }),
    }),
    parameters: fc.record({ n0: fc.integer({ min: 1, max: 10 }), n: fc.integer({ min: 1, max: 30 }) }),
  })
  .map((b) => JSON.stringify(b));

const body = fc.oneof(
  { weight: 1, arbitrary: validBody },
  { weight: 6, arbitrary: certifyBody.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constant("") },
);

const headers = fc.record(
  {
    "content-type": fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "application/problem+json",
    ),
    "idempotency-key": printable,
    prefer: fc.constantFrom(
      "wait=0",
      "respond-async",
      "wait=abc",
      "wait",
      "handling=strict",
      "wait=0, respond-async",
    ),
    authorization: fc.oneof(
      printable,
      printable.map((s) => `Bearer ${s}`),
    ),
    accept: fc.constantFrom("application/json", "*/*", "text/html"),
  },
  { requiredKeys: [] },
);

const segment = fc.oneof(
  fc.constantFrom("half", "bright", "x", "..", "%2e%2e", "00000000-0000-0000-0000-000000000000"),
  printable,
);
const request = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ method: fc.constant("POST"), path: fc.constant("/certify"), body, headers }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constantFrom("GET", "POST", "DELETE", "PUT"),
      path: fc.oneof(
        segment.map((s) => `/certify/${encodeURIComponent(s)}`),
        segment.map((s) => `/certify/${encodeURIComponent(s)}/cancel`),
        segment.map((s) => `/certifiers/${encodeURIComponent(s)}`),
        fc
          .tuple(printable, printable, segment)
          .map(
            ([l, c, s]) =>
              `/certify?limit=${encodeURIComponent(l)}&cursor=${encodeURIComponent(c)}&status=${encodeURIComponent(s)}`,
          ),
        fc.constantFrom("/certify", "/certifiers", "/healthz", "/readyz", "/metrics", "/openapi.json"),
      ),
      body,
      headers,
    }),
  },
);

describe("generated requests", () => {
  it("never get a 5xx, and every error is problem+json", async () => {
    const statuses = new Map<number, number>();
    // Sampled with a fixed seed and sent a few at a time: concurrency is part of what is tested. The
    // first 2,000 go over the loopback socket; the rest straight to the app's fetch, the same
    // middleware and routes without the transport, which keeps 10,000 requests quick.
    const requests = fc.sample(request, { numRuns: 10_000, seed: 20_260_414 });
    const OVER_SOCKET = 2_000;
    const inProcess = async (r: (typeof requests)[number]) => {
      const init: RequestInit = { method: r.method, headers: r.headers };
      if (r.method !== "GET") init.body = r.body;
      const res = await server.fetch(new Request(`${server.url}${r.path}`, init));
      return {
        status: res.status,
        contentType: res.headers.get("content-type") ?? "",
        text: await res.text(),
      };
    };
    const check = async (r: (typeof requests)[number], i: number) => {
      const res =
        i < OVER_SOCKET
          ? await send(r.method, r.path, r.headers, r.method === "GET" ? undefined : r.body)
          : await inProcess(r);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${r.body.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 300)}`;
      expect(res.status, what).toBeLessThan(500);
      if (res.status >= 400) {
        expect(res.contentType, what).toMatch(/^application\/problem\+json/);
        const p = JSON.parse(res.text) as { status: number; title: string; detail: string };
        expect(p.status, what).toBe(res.status);
        expect(typeof p.detail, what).toBe("string");
      }
    };
    for (let i = 0; i < requests.length; i += 16) {
      await Promise.all(requests.slice(i, i + 16).map((r, j) => check(r, i + j)));
    }
    expect((await server.call("/healthz")).status).toBe(200);
    // Most bodies fail validation early; some are real jobs at tiny n.
    expect(statuses.get(422) ?? 0).toBeGreaterThan(1000);
    expect(statuses.get(202) ?? 0).toBeGreaterThan(10);
  }, 300_000);
});
