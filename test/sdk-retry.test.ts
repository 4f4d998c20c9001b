import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  Dualrs,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from "../src/sdk/index.js";
import { retryDelay } from "../src/sdk/retry.js";

/**
 * A real HTTP server on loopback that answers each path from a script of responses, one per
 * attempt, and records every request it gets: the faults that the dualrs server itself will not
 * produce on demand (503s, dropped connections, a server that never answers).
 */
interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Never answer. */
  hang?: boolean;
}

const seen: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] = [];
let script: Record<string, Scripted[]> = {};
let server: Server;
let baseURL: string;

const job = { id: "job-1", status: "queued", progress: { done: 0, total: 10 } };

function problem(status: number) {
  return {
    type: "/problems/x",
    title: `T${status}`,
    status,
    detail: `detail ${status}`,
    requestId: `req-${status}`,
  };
}

function answer(req: IncomingMessage, res: ServerResponse, body: string) {
  seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
  const queue = script[`${req.method} ${req.url}`] ?? [];
  const next = queue.length > 1 ? queue.shift() : queue[0];
  if (!next) return res.writeHead(404).end();
  if (next.hang) return;
  const json = next.status >= 400 ? "application/problem+json" : "application/json";
  res.writeHead(next.status, { "content-type": json, ...next.headers });
  res.end(typeof next.body === "string" ? next.body : JSON.stringify(next.body ?? problem(next.status)));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => answer(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  seen.length = 0;
  script = {};
});

const request = { certifier: "c", input: { type: "tensor" as const, shape: [2], data: [0.1, 0.2] } };

describe("retries", () => {
  it("retries a create on 503 with the same generated Idempotency-Key, honouring Retry-After", async () => {
    script["POST /certify"] = [
      { status: 503, headers: { "retry-after": "0" } },
      { status: 503, headers: { "retry-after": "0" } },
      { status: 202, body: job },
    ];
    const client = new Dualrs({ baseURL, maxRetries: 2 });
    const created = await client.certify.create(request);
    expect(created.id).toBe("job-1");
    expect(seen).toHaveLength(3);
    const keys = seen.map((s) => s.headers["idempotency-key"]);
    expect(keys[0]).toMatch(/^dualrs-[0-9a-f]{32}$/);
    expect(new Set(keys).size).toBe(1);
    expect(JSON.parse(seen[2]?.body ?? "")).toEqual(request);
  });

  it("keeps the caller's Idempotency-Key and gives up after maxRetries with the last error", async () => {
    script["POST /certify"] = [{ status: 500, headers: { "retry-after": "0", "x-request-id": "abc" } }];
    const client = new Dualrs({ baseURL, maxRetries: 3 });
    const error = await client.certify.create(request, { idempotencyKey: "mine" }).catch((e) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.status).toBe(500);
    expect(error.problem.detail).toBe("detail 500");
    expect(error.requestId).toBe("req-500");
    expect(seen.map((s) => s.headers["idempotency-key"])).toEqual(["mine", "mine", "mine", "mine"]);
  });

  it("retries 408, 409 and 429 (Retry-After as an HTTP date) on reads", async () => {
    const past = new Date(Date.now() - 5000).toUTCString();
    script["GET /certify/job-1"] = [
      { status: 408, headers: { "retry-after": "0" } },
      { status: 409, headers: { "retry-after": "0" } },
      { status: 429, headers: { "retry-after": past } },
      { status: 200, body: job },
    ];
    const client = new Dualrs({ baseURL, maxRetries: 3 });
    expect((await client.certify.get("job-1")).status).toBe("queued");
    expect(seen).toHaveLength(4);
  });

  it("does not retry other client errors, nor a 409 that does not say when to retry", async () => {
    const client = new Dualrs({ baseURL, maxRetries: 3 });
    script["GET /certify/job-1"] = [{ status: 422 }, { status: 200, body: job }];
    await expect(client.certify.get("job-1")).rejects.toBeInstanceOf(UnprocessableEntityError);
    expect(seen).toHaveLength(1);
    script["GET /certify/job-1"] = [{ status: 409 }, { status: 200, body: job }];
    await expect(client.certify.get("job-1")).rejects.toBeInstanceOf(ConflictError);
    expect(seen).toHaveLength(2);
  });

  it("retries a refused connection, then throws APIConnectionError", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const client = new Dualrs({ baseURL: `http://127.0.0.1:${port}`, maxRetries: 1 });
    const error = await client.certifiers.list().catch((e) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).not.toBeInstanceOf(APIConnectionTimeoutError);
  });

  it("deletes once: a 404 after an attempt whose answer was lost means the job is gone", async () => {
    const client = new Dualrs({ baseURL, maxRetries: 2, timeout: 200 });
    script["DELETE /certify/job-1"] = [{ status: 503, headers: { "retry-after": "0" } }, { status: 404 }];
    await expect(client.certify.delete("job-1")).resolves.toBeUndefined();
    script["DELETE /certify/job-1"] = [{ status: 204, hang: true }, { status: 404 }];
    await expect(client.certify.delete("job-1")).resolves.toBeUndefined();
    expect(seen).toHaveLength(4);
    // Heard at once, or after an answer that was heard (429), a 404 is an unknown job.
    script["DELETE /certify/job-1"] = [{ status: 404 }];
    await expect(client.certify.delete("job-1")).rejects.toBeInstanceOf(NotFoundError);
    script["DELETE /certify/job-1"] = [{ status: 429, headers: { "retry-after": "0" } }, { status: 404 }];
    await expect(client.certify.delete("job-1")).rejects.toBeInstanceOf(NotFoundError);
    // A read that gets 404 after a 503 is still an unknown job.
    script["GET /certify/job-1"] = [{ status: 503, headers: { "retry-after": "0" } }, { status: 404 }];
    await expect(client.certify.get("job-1")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("times out a request that gets no answer, on every attempt", async () => {
    script["GET /certifiers"] = [{ status: 200, hang: true }];
    const client = new Dualrs({ baseURL, maxRetries: 1, timeout: 100 });
    await expect(client.certifiers.list()).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(seen).toHaveLength(2);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("is honoured in seconds or as a date, within 60 s", () => {
    expect(retryDelay(0, "2", now)).toBe(2000);
    expect(retryDelay(3, "0", now)).toBe(0);
    expect(retryDelay(0, "Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(retryDelay(0, "Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
  });

  it("falls back to exponential backoff with jitter when absent, unparseable or too long", () => {
    for (const header of [null, "soon", "3600", "Thu, 01 Jan 2026 01:00:00 GMT"]) {
      for (let attempt = 0; attempt < 6; attempt++) {
        const cap = Math.min(500 * 2 ** attempt, 8000);
        const delay = retryDelay(attempt, header, now);
        expect(delay).toBeGreaterThanOrEqual(cap * 0.75);
        expect(delay).toBeLessThanOrEqual(cap);
      }
    }
  });
});

describe("errors", () => {
  it("has one class per class of status", async () => {
    const classes = [
      [400, BadRequestError],
      [401, AuthenticationError],
      [403, PermissionDeniedError],
      [404, NotFoundError],
      [409, ConflictError],
      [422, UnprocessableEntityError],
      [429, RateLimitError],
      [500, InternalServerError],
      [503, InternalServerError],
      [413, APIError],
    ] as const;
    const client = new Dualrs({ baseURL, maxRetries: 0 });
    for (const [status, Class] of classes) {
      script["GET /certifiers/x"] = [{ status }];
      const error = await client.certifiers.get("x").catch((e) => e);
      expect(error).toBeInstanceOf(Class);
      expect(error).toBeInstanceOf(APIError);
      expect(error.name).toBe(Class.name);
      expect(error.status).toBe(status);
      expect(error.problem).toEqual(problem(status));
      expect(error.message).toContain(`detail ${status}`);
    }
  });

  it("keeps a non-problem error body out of the problem", async () => {
    script["GET /certifiers/x"] = [{ status: 502, body: "<html>bad gateway</html>" }];
    const error = await new Dualrs({ baseURL, maxRetries: 0 }).certifiers.get("x").catch((e) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.problem).toBeUndefined();
  });
});

describe("AbortSignal", () => {
  it("aborts a request in flight", async () => {
    script["GET /certifiers"] = [{ status: 200, hang: true }];
    const controller = new AbortController();
    const pending = new Dualrs({ baseURL }).certifiers.list({ signal: controller.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
  });

  it("aborts the wait between retries", async () => {
    script["GET /certifiers"] = [{ status: 503, headers: { "retry-after": "50" } }];
    const controller = new AbortController();
    const pending = new Dualrs({ baseURL, maxRetries: 5 }).certifiers.list({ signal: controller.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    expect(seen).toHaveLength(1);
  });
});

describe("requests", () => {
  it("sends the API key, JSON and the query, and follows list cursors", async () => {
    script["GET /certify?limit=1"] = [{ status: 200, body: { jobs: [job], nextCursor: "c2" } }];
    script["GET /certify?limit=1&cursor=c2"] = [{ status: 200, body: { jobs: [job], nextCursor: null } }];
    const client = new Dualrs({ baseURL: `${baseURL}/`, apiKey: "sk-test" });
    const pages = [];
    for await (const page of client.certify.list({ limit: 1 })) pages.push(page);
    expect(pages.map((p) => p.nextCursor)).toEqual(["c2", null]);
    expect(seen.map((s) => s.headers.authorization)).toEqual(["Bearer sk-test", "Bearer sk-test"]);
  });
});
