import jpeg from "jpeg-js";
import pngjs from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateSchema } from "../src/server/schemas/certificate.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

interface JobBody {
  id: string;
  status: string;
  certificate: (Record<string, unknown> & { prediction: { label: string } | null; seed: number }) | null;
  parameters: { seed: number };
  progress: { done: number; total: number };
  input: { shape: number[]; sha256: string };
  [k: string]: unknown;
}

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  field?: string;
  expectedShape?: number[];
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

const post = (json: unknown, headers: Record<string, string> = {}) =>
  server.call("/certify", { method: "POST", json, headers });

const tensor = (data: number[] | string, shape = [2]) => ({ type: "tensor", shape, data });

/** A job that runs until it is canceled. */
const postLong = async () =>
  (await (
    await post({
      certifier: "half",
      input: tensor([0.2, 0.1]),
      parameters: { n: 50_000_000, batchSize: 1000 },
    })
  ).json()) as JobBody;

/** Polls a job until it is terminal. */
async function settle(id: string): Promise<JobBody> {
  for (;;) {
    const res = await server.call(`/certify/${id}`);
    expect(res.status).toBe(200);
    const job = (await res.json()) as JobBody;
    if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function problemOf(res: Response, status: number): Promise<ProblemBody> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const p = (await res.json()) as ProblemBody;
  expect(p.status).toBe(status);
  expect(p.title).toBeTruthy();
  expect(p.detail).toBeTruthy();
  return p;
}

function png(width: number, height: number, gray: number): string {
  const img = new pngjs.PNG({ width, height });
  img.data.fill(gray);
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  return pngjs.PNG.sync.write(img).toString("base64");
}

function jpg(width: number, height: number, gray: number): string {
  const data = Buffer.alloc(width * height * 4, gray);
  return Buffer.from(jpeg.encode({ data, width, height }, 95).data).toString("base64");
}

describe("certification jobs", () => {
  it("creates a job (202 + Location), then polls it to a certificate that matches the schema", async () => {
    // The server picks the seed here, so the input sits 2.4 sigma inside "pos" (3x0 + 4x1 - 0.5 = 3,
    // over |w| = 5 and sigma = 0.25): [0.2, 0.1], at 0.4 sigma, abstained in about one run in twelve.
    const res = await post({ certifier: "half", input: tensor([0.5, 0.5]), metadata: { case: "a" } });
    expect(res.status).toBe(202);
    const job = (await res.json()) as JobBody;
    expect(res.headers.get("location")).toBe(`/certify/${job.id}`);
    expect(job.status).toMatch(/queued|running/);
    expect(Number.isSafeInteger(job.parameters.seed)).toBe(true);
    const done = await settle(job.id);
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect(done.progress).toEqual({ done: 220, total: 220 });
    const cert = CertificateSchema.parse(done.certificate);
    expect(cert.prediction?.label).toBe("pos");
    expect(cert.seed).toBe(job.parameters.seed);
    expect(done.metadata).toEqual({ case: "a" });
    expect(done.input.shape).toEqual([2]);
  });

  it("shows the parameters as sent, with the seed, and certifies with them resolved once on acceptance", async () => {
    const res = await post({ certifier: "half", input: tensor([0.5, 0.5]), parameters: { n0: 10, n: 50 } });
    const job = (await res.json()) as JobBody;
    expect(job.parameters).toEqual({ n0: 10, n: 50, seed: job.parameters.seed });
    const done = await settle(job.id);
    expect(Object.keys(done)).not.toContain("resolved");
    expect(done.parameters).toEqual(job.parameters);
    const cert = CertificateSchema.parse(done.certificate);
    // The certifier's defaults for what was not sent, and the seed fixed when the job was accepted.
    expect(cert.parameters).toMatchObject({ n0: 10, n: 50, alpha: 0.01, alphaSplit: null, routing: null });
    expect(cert.seed).toBe(job.parameters.seed);
  });

  it("certifies with set routing past R_sigma, and reports what ran", async () => {
    // 0.1 from the estimator's hyperplane (R_sigma small), 0.38 from the classifier's.
    const res = await post({
      certifier: "dual-half",
      input: tensor([-0.4, 0.9]),
      parameters: { seed: 7, routing: "set" },
    });
    const done = await settle(((await res.json()) as JobBody).id);
    expect(done.status).toBe("succeeded");
    // Two stages and one runner-up could run: the total counts all three.
    expect(done.progress).toEqual({ done: 660, total: 660 });
    const cert = CertificateSchema.parse(done.certificate);
    expect(cert.parameters.routing).toBe("set");
    expect(cert.routing?.certified.map((s) => s.sigma)).toEqual([0.12]);
    expect(cert.radius).toBeGreaterThan(cert.routing?.singleRadius ?? Number.POSITIVE_INFINITY);
  });

  it("gives the same certificate for the same input as numbers or base64 float32 and the same seed", async () => {
    const b64 = Buffer.from(Float32Array.of(0.2, 0.1).buffer).toString("base64");
    const parameters = { seed: 11, n: 300 };
    const [a, b] = await Promise.all([
      post({ certifier: "dual-half", input: tensor([0.2, 0.1]), parameters }, { prefer: "wait=30" }),
      post({ certifier: "dual-half", input: tensor(b64), parameters }, { prefer: "wait=30" }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.headers.get("preference-applied")).toBe("wait=30");
    const [ja, jb] = [(await a.json()) as JobBody, (await b.json()) as JobBody];
    expect(ja.id).not.toBe(jb.id);
    expect(ja.input.sha256).toBe(jb.input.sha256);
    expect(ja.certificate).toEqual(jb.certificate);
    expect(ja.certificate?.mode).toBe("dual");
  });

  it("decodes PNG and JPEG images and scales them to the certifier's input", async () => {
    const [bright, dark] = await Promise.all([
      post({ certifier: "bright", input: { type: "image", data: png(12, 12, 250) } }, { prefer: "wait=30" }),
      post({ certifier: "bright", input: { type: "image", data: jpg(9, 7, 5) } }, { prefer: "wait=30" }),
    ]);
    expect(bright.status).toBe(200);
    expect(dark.status).toBe(200);
    expect(((await bright.json()) as JobBody).certificate?.prediction?.label).toBe("bright");
    const d = (await dark.json()) as JobBody;
    expect(d.certificate?.prediction?.label).toBe("dark");
    expect(d.input.shape).toEqual([1, 4, 4]);
  });

  it("cancels a running job", async () => {
    const res = await post({
      certifier: "half",
      input: tensor([0.2, 0.1]),
      parameters: { n: 50_000_000, batchSize: 1000 },
    });
    const job = (await res.json()) as JobBody;
    for (;;) {
      const j = (await (await server.call(`/certify/${job.id}`)).json()) as JobBody;
      if (j.status === "running" && j.progress.done > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const cancel = await server.call(`/certify/${job.id}/cancel`, { method: "POST" });
    expect([200, 202]).toContain(cancel.status);
    expect(((await cancel.json()) as JobBody & { cancelRequested: boolean }).cancelRequested).toBe(true);
    expect((await settle(job.id)).status).toBe("canceled");
    const again = await server.call(`/certify/${job.id}/cancel`, { method: "POST" });
    expect(again.status).toBe(200);
  });

  it("holds GET /certify/{id} with Prefer: wait until the job finishes, or answers when the wait is over", async () => {
    // Some seconds of work: without the wait the answer would find it queued or running.
    const parameters = { n: 3_000_000, batchSize: 1000 };
    const short = (await (
      await post({ certifier: "half", input: tensor([0.2, 0.1]), parameters })
    ).json()) as JobBody;
    const held = await server.call(`/certify/${short.id}`, { headers: { prefer: "wait=60" } });
    expect(held.status).toBe(200);
    expect(held.headers.get("preference-applied")).toBe("wait=60");
    expect(((await held.json()) as JobBody).status).toBe("succeeded");

    const long = await postLong();
    const over = await server.call(`/certify/${long.id}`, { headers: { prefer: "wait=1" } });
    expect(over.status).toBe(200);
    expect(((await over.json()) as JobBody).status).toMatch(/queued|running/);
    await server.call(`/certify/${long.id}/cancel`, { method: "POST" });
    expect((await settle(long.id)).status).toBe("canceled");
  });

  it("forgets a finished job on DELETE (204), and refuses a running one (409)", async () => {
    const res = await post({ certifier: "half", input: tensor([0.2, 0.1]) }, { prefer: "wait=30" });
    const job = (await res.json()) as JobBody;
    expect(job.status).toBe("succeeded");
    const gone = await server.call(`/certify/${job.id}`, { method: "DELETE" });
    expect(gone.status).toBe(204);
    expect(await gone.text()).toBe("");
    await problemOf(await server.call(`/certify/${job.id}`), 404);
    await problemOf(await server.call(`/certify/${job.id}`, { method: "DELETE" }), 404);
    const page = (await (await server.call("/certify?limit=100")).json()) as { jobs: JobBody[] };
    expect(page.jobs.map((j) => j.id)).not.toContain(job.id);

    const long = await postLong();
    const active = await problemOf(await server.call(`/certify/${long.id}`, { method: "DELETE" }), 409);
    expect(active.detail).toMatch(/cancel it first/);
    await server.call(`/certify/${long.id}/cancel`, { method: "POST" });
    expect((await settle(long.id)).status).toBe("canceled");
    expect((await server.call(`/certify/${long.id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("refuses to cancel a finished job (409) and an unknown one (404)", async () => {
    const res = await post({ certifier: "half", input: tensor([0.2, 0.1]) }, { prefer: "wait=30" });
    const job = (await res.json()) as JobBody;
    expect(job.status).toBe("succeeded");
    await problemOf(await server.call(`/certify/${job.id}/cancel`, { method: "POST" }), 409);
    await problemOf(await server.call("/certify/no-such-job/cancel", { method: "POST" }), 404);
    await problemOf(await server.call("/certify/no-such-job"), 404);
  });

  it("lists every job once, newest first, a page at a time", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post({
        certifier: "half",
        input: tensor([0.1 * i, 0.1]),
        parameters: { n: 10, n0: 5 },
      });
      created.push(((await res.json()) as JobBody).id);
    }
    const seen: string[] = [];
    let url: string | null = "/certify?limit=2";
    let pages = 0;
    while (url) {
      const res: Response = await server.call(url);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { jobs: JobBody[]; nextCursor: string | null };
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.jobs.map((j) => j.id));
      const link = res.headers.get("link");
      if (page.nextCursor) expect(link).toContain('rel="next"');
      url = page.nextCursor ? `/certify?limit=2&cursor=${encodeURIComponent(page.nextCursor)}` : null;
      pages++;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.slice(0, 5)).toEqual([...created].reverse());
    const succeeded = (await (await server.call("/certify?status=succeeded&limit=100")).json()) as {
      jobs: JobBody[];
    };
    expect(succeeded.jobs.every((j) => j.status === "succeeded")).toBe(true);
  });
});

describe("idempotency", () => {
  it("replays the first job for the same key and body, and refuses the key with another body (422)", async () => {
    const body = { certifier: "half", input: tensor([0.3, 0.3]) };
    const first = await post(body, { "idempotency-key": "key-1" });
    const second = await post(body, { "idempotency-key": "key-1" });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const [a, b] = [(await first.json()) as JobBody, (await second.json()) as JobBody];
    expect(b.id).toBe(a.id);
    expect(b.parameters.seed).toBe(a.parameters.seed);
    const other = await post({ ...body, input: tensor([0.3, 0.4]) }, { "idempotency-key": "key-1" });
    const p = await problemOf(other, 422);
    expect(p.type).toBe("/problems/idempotency-key-reused");
  });

  it("answers 409 while the first request with a key is in flight; every other answer is the one job", async () => {
    const body = { certifier: "half", input: tensor([0.3, 0.2]) };
    const answers = await Promise.all([1, 2, 3, 4].map(() => post(body, { "idempotency-key": "key-2" })));
    const ids = new Set<string>();
    for (const res of answers) {
      if (res.status === 409) {
        const p = await problemOf(res, 409);
        expect(p.type).toBe("/problems/idempotency-key-in-flight");
      } else {
        expect(res.status).toBe(202);
        ids.add(((await res.json()) as JobBody).id);
      }
    }
    expect(ids.size).toBe(1);
  });
});

describe("errors are problem+json naming the field at fault", () => {
  it("400: malformed JSON, bad query, bad header", async () => {
    await problemOf(
      await server.call("/certify", {
        method: "POST",
        body: "{not json",
        headers: { "content-type": "application/json" },
      }),
      400,
    );
    const plain = await server.call("/certify", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "text/plain" },
    });
    expect((await problemOf(plain, 415)).type).toBe("/problems/unsupported-media-type");
    const q = await problemOf(await server.call("/certify?limit=abc"), 400);
    expect(q.field).toBe("limit");
    const c = await problemOf(await server.call("/certify?cursor=garbage"), 400);
    expect(c.field).toBe("cursor");
    const h = await problemOf(
      await post({ certifier: "half", input: tensor([0, 0]) }, { "idempotency-key": "a b" }),
      400,
    );
    expect(h.field).toBe("idempotency-key");
  });

  it("415: a body that is not application/json in UTF-8, naming its Content-Type", async () => {
    const body = JSON.stringify({
      certifier: "half",
      input: tensor([0.2, 0.1]),
      parameters: { n0: 10, n: 50 },
    });
    const send = (contentType: string, bytes: string | Uint8Array<ArrayBuffer> = body) =>
      server.call("/certify", { method: "POST", body: bytes, headers: { "content-type": contentType } });
    const refused: [string, string | Uint8Array<ArrayBuffer>][] = [
      // Read as UTF-8 these would be misparsed, not refused.
      ["application/json; charset=utf-16", new Uint8Array(Buffer.from(`\ufeff${body}`, "utf16le"))],
      ["application/json; charset=iso-8859-1", body],
      ["application/foo+json", body],
      ["application/x-json", body],
      ["text/json", body],
      ["application/json; version=2", body],
    ];
    for (const [contentType, bytes] of refused) {
      const p = await problemOf(await send(contentType, bytes), 415);
      expect(p.type, contentType).toBe("/problems/unsupported-media-type");
      expect(p.detail, contentType).toContain(contentType);
    }
    for (const contentType of [
      "application/json",
      "Application/JSON; Charset=UTF-8",
      'application/json;charset="utf-8"',
    ]) {
      expect((await send(contentType)).status, contentType).toBe(202);
    }
  });

  it("404: unknown certifier, job or route", async () => {
    const p = await problemOf(await post({ certifier: "nope", input: tensor([0, 0]) }), 404);
    expect(p.detail).toContain("nope");
    await problemOf(await post({ certifier: "../half", input: tensor([0, 0]) }), 404);
    await problemOf(await server.call("/certifiers/nope"), 404);
    await problemOf(await server.call("/nowhere"), 404);
  });

  it("413: a body over the limit", async () => {
    const big = JSON.stringify({ certifier: "half", input: tensor("A".repeat(5 * 1024 * 1024)) });
    await problemOf(
      await server.call("/certify", {
        method: "POST",
        body: big,
        headers: { "content-type": "application/json" },
      }),
      413,
    );
  });

  it("422: schema, shape (naming the expected shape), range, parameters", async () => {
    const cases: [unknown, string][] = [
      [{ certifier: "half" }, "input"],
      [{ certifier: "half", input: tensor([0, 0]), parameters: { n: -1 } }, "parameters.n"],
      [{ certifier: "half", input: tensor([0, 0]), extra: 1 }, "(body)"],
      [{ certifier: "half", input: tensor([0, 0], [1, 2]) }, "input.shape"],
      [{ certifier: "half", input: tensor([0, 0, 0]) }, "input.data"],
      [{ certifier: "half", input: tensor([0, 5]) }, "input.data[1]"],
      [{ certifier: "half", input: tensor("@@@@") }, "input.data"],
      [{ certifier: "half", input: { type: "image", data: png(2, 2, 0) } }, "input"],
      [{ certifier: "bright", input: { type: "image", data: "aGVsbG8=" } }, "input.data"],
      [
        { certifier: "dual-half", input: tensor([0, 0]), parameters: { mode: "global", sigma: 0.3 } },
        "parameters.sigma",
      ],
      [{ certifier: "half", input: tensor([0, 0]), parameters: { mode: "dual" } }, "parameters.mode"],
      [
        { certifier: "half", input: tensor([0, 0]), parameters: { targetRadius: -1 } },
        "parameters.targetRadius",
      ],
      [
        { certifier: "half", input: tensor([0, 0]), parameters: { sampling: "adaptive" } },
        "parameters.sampling",
      ],
      [
        { certifier: "dual-half", input: tensor([0, 0]), parameters: { routing: "both" } },
        "parameters.routing",
      ],
      [{ certifier: "half", input: tensor([0, 0]), parameters: { routing: "set" } }, "parameters.routing"],
      [{ certifier: "half", input: tensor([0, 0]), webhook: { url: "ftp://example.com/x" } }, "webhook.url"],
    ];
    for (const [body, field] of cases) {
      const p = await problemOf(await post(body), 422);
      expect(p.field, JSON.stringify(body).slice(0, 100)).toBe(field);
    }
    const shape = await problemOf(await post({ certifier: "bright", input: tensor([0, 0]) }), 422);
    expect(shape.expectedShape).toEqual([1, 4, 4]);
    expect(shape.detail).toContain("[1, 4, 4]");
  });
});

describe("draws per certificate", () => {
  it("refuses n0 + n over MAX_DRAWS with a 422 naming the field and the limit", async () => {
    const capped = await startTestServer({ MAX_DRAWS: "1000" });
    try {
      const ask = (parameters: Record<string, number>) =>
        capped.call("/certify", {
          method: "POST",
          json: { certifier: "half", input: tensor([0.2, 0.1]), parameters },
        });
      expect((await ask({ n0: 10, n: 990 })).status).toBe(202);
      const over = await problemOf(await ask({ n0: 10, n: 991 }), 422);
      expect(over.type).toBe("/problems/validation");
      expect(over.field).toBe("parameters.n");
      expect(over.detail).toBe(
        "parameters.n: n0 + n is 1001 draws per stage, more than this server's limit of 1000 (MAX_DRAWS)",
      );
      expect((await problemOf(await ask({ n0: 2000, n: 10 }), 422)).field).toBe("parameters.n");
      expect((await problemOf(await ask({ n0: 2000 }), 422)).field).toBe("parameters.n0");
    } finally {
      await capped.stop();
    }
  });

  it("caps a certificate at 1,000,000 draws per stage by default", async () => {
    // An empty setting is an unset one: the server's own default.
    const server = await startTestServer({ MAX_DRAWS: "" });
    try {
      const res = await server.call("/certify", {
        method: "POST",
        json: { certifier: "half", input: tensor([0.2, 0.1]), parameters: { n: 1e9 } },
      });
      const p = await problemOf(res, 422);
      expect(p.field).toBe("parameters.n");
      expect(p.detail).toContain("limit of 1000000 (MAX_DRAWS)");
    } finally {
      await server.stop();
    }
  });
});

describe("problems stay small however much is wrong", () => {
  it("lists the first 10 unknown keys and counts the rest", async () => {
    const body: Record<string, unknown> = { certifier: "half", input: tensor([0.2, 0.1]) };
    for (let i = 0; i < 100_000; i++) body[`unknown-${i}`] = 0;
    const res = await post(body);
    const text = await res.clone().text();
    const p = await problemOf(res, 422);
    expect(text.length).toBeLessThan(2000);
    expect(p.field).toBe("(body)");
    expect(p.detail).toMatch(/^\(body\): unrecognized keys: "unknown-0", .*"unknown-9" and 99990 more$/);
  });

  it("keeps the first 10 field errors of many and counts the rest; cuts long text", async () => {
    const metadata = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i]));
    const res = await post({ certifier: "half", input: tensor([0.2, 0.1]), metadata });
    const text = await res.clone().text();
    const p = (await problemOf(res, 422)) as ProblemBody & { errors: { field: string }[] };
    expect(text.length).toBeLessThan(4000);
    expect(p.errors.map((e) => e.field)).toEqual(Array.from({ length: 10 }, (_, i) => `metadata.k${i}`));
    expect(p.detail).toMatch(/\(and 49990 more errors\)$/);
    const long = await problemOf(await server.call(`/${"x".repeat(10_000)}`), 404);
    expect(long.detail.length).toBeLessThan(600);
    expect(long.detail).toMatch(/more characters\)$/);
  });
});

describe("certifiers, docs and operations", () => {
  it("describes each certifier", async () => {
    const list = (await (await server.call("/certifiers")).json()) as { certifiers: { id: string }[] };
    expect(list.certifiers.map((c) => c.id)).toEqual(["bright", "dual-half", "half"]);
    const dual = (await (await server.call("/certifiers/dual-half")).json()) as Record<string, unknown>;
    expect(dual.modes).toEqual(["dual", "global"]);
    expect(dual.input).toEqual({ shape: [2], range: [-1, 1], accepts: ["tensor"], preprocess: null });
    const bright = (await (await server.call("/certifiers/bright")).json()) as {
      input: { accepts: string[] };
    };
    expect(bright.input.accepts).toEqual(["tensor", "image"]);
  });

  it("serves health, readiness, metrics, the OpenAPI document and its reference page", async () => {
    expect(await (await server.call("/healthz")).json()).toEqual({ status: "ok" });
    const ready = await server.call("/readyz");
    expect(ready.status).toBe(200);
    const metrics = await (await server.call("/metrics")).text();
    expect(metrics).toMatch(/dualrs_jobs\{state="succeeded"\} [1-9]/);
    expect(metrics).toContain("dualrs_queue_depth");
    expect(metrics).toMatch(/dualrs_http_requests_total\{method="POST",route="\/certify",status="202"\}/);
    const doc = (await (await server.call("/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/certify/{id}/cancel");
    const docs = await server.call("/docs");
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("/openapi.json");
  });
});

describe("API keys and rate limits", () => {
  let guarded: TestServer;
  const key = "test-key-1";
  beforeAll(async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    guarded = await startTestServer({
      API_KEYS: hashApiKey(key),
      RATE_LIMIT: "3",
      RATE_LIMIT_WINDOW: "3600",
    });
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  it("401 without a key or with a wrong one; probes stay open", async () => {
    const none = await problemOf(await guarded.call("/certifiers"), 401);
    expect(none.type).toBe("/problems/unauthorized");
    const wrong = await guarded.call("/certifiers", { headers: { authorization: "Bearer nope" } });
    await problemOf(wrong, 401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await guarded.call("/healthz")).status).toBe(200);
  });

  it("shows each tenant its own jobs only; keys named for one tenant share them", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const tenants = await startTestServer({
      API_KEYS: [`team-a:${hashApiKey("a1")}`, `team-a:${hashApiKey("a2")}`, hashApiKey("b")].join(","),
    });
    try {
      const as = (key: string, headers: Record<string, string> = {}) => ({
        headers: { authorization: `Bearer ${key}`, ...headers },
      });
      const body = { certifier: "half", input: tensor([0.5, 0.5]) };
      const created = await tenants.call("/certify", {
        method: "POST",
        json: body,
        ...as("a1", { "idempotency-key": "k" }),
      });
      expect(created.status).toBe(202);
      const { id } = (await created.json()) as JobBody;

      // The other key of team-a sees the job, lists it, and replays its idempotency key.
      expect((await tenants.call(`/certify/${id}`, as("a2"))).status).toBe(200);
      const listed = (await (await tenants.call("/certify", as("a2"))).json()) as { jobs: JobBody[] };
      expect(listed.jobs.map((j) => j.id)).toEqual([id]);
      const replay = await tenants.call("/certify", {
        method: "POST",
        json: body,
        ...as("a2", { "idempotency-key": "k" }),
      });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(((await replay.json()) as JobBody).id).toBe(id);

      // Another tenant: the job is unknown to it, whether read, canceled or listed, and the same
      // idempotency key is a new job of its own.
      const read = await problemOf(await tenants.call(`/certify/${id}`, as("b")), 404);
      expect(read.type).toBe("/problems/not-found");
      await problemOf(await tenants.call(`/certify/${id}/cancel`, { method: "POST", ...as("b") }), 404);
      await problemOf(await tenants.call(`/certify/${id}`, { method: "DELETE", ...as("b") }), 404);
      const theirs = (await (await tenants.call("/certify?status=queued", as("b"))).json()) as {
        jobs: JobBody[];
      };
      expect(theirs.jobs).toEqual([]);
      const own = await tenants.call("/certify", {
        method: "POST",
        json: body,
        ...as("b", { "idempotency-key": "k" }),
      });
      expect(own.status).toBe(202);
      expect(own.headers.get("idempotent-replayed")).toBeNull();
      const ownId = ((await own.json()) as JobBody).id;
      expect(ownId).not.toBe(id);
      const mine = (await (await tenants.call("/certify", as("b"))).json()) as { jobs: JobBody[] };
      expect(mine.jobs.map((j) => j.id)).toEqual([ownId]);
      expect((await tenants.call(`/certify/${id}`, as("a1"))).status).toBe(200);

      // The samples each tenant used, for accounting.
      await tenants.call(`/certify/${id}`, as("a1", { prefer: "wait=30" }));
      const metrics = await (await tenants.call("/metrics", as("a1"))).text();
      expect(metrics).toMatch(/dualrs_samples_total\{certifier="half",tenant="team-a"\} [1-9]\d*/);
    } finally {
      await tenants.stop();
    }
  });

  it("429 once a tenant has MAX_QUEUED_JOBS queued; other tenants still submit", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const capped = await startTestServer({
      MAX_QUEUED_JOBS: "1",
      API_KEYS: [hashApiKey("a"), hashApiKey("b")].join(","),
    });
    try {
      const submit = (key: string) =>
        capped.call("/certify", {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          json: {
            certifier: "half",
            input: tensor([0.2, 0.1]),
            parameters: { n: 50_000_000, batchSize: 1000 },
          },
        });
      // One job runs (the server runs one at a time), the next waits: the tenant's one queued job.
      const ids: string[] = [];
      for (const _ of [0, 1]) {
        const res = await submit("a");
        expect(res.status).toBe(202);
        ids.push(((await res.json()) as JobBody).id);
      }
      const full = await problemOf(await submit("a"), 429);
      expect(full.type).toBe("/problems/too-many-queued-jobs");
      expect(full.detail).toMatch(/1 queued jobs/);
      const other = await submit("b");
      expect(other.status).toBe(202);
      ids.push(((await other.json()) as JobBody).id);
      for (const [i, id] of ids.entries()) {
        await capped.call(`/certify/${id}/cancel`, {
          method: "POST",
          headers: { authorization: `Bearer ${i < 2 ? "a" : "b"}` },
        });
      }
    } finally {
      await capped.stop();
    }
  });

  it("429 with Retry-After once a tenant spends its requests, counting down in RateLimit-*", async () => {
    const auth = { authorization: `Bearer ${key}` };
    for (let i = 0; i < 3; i++) {
      const ok = await guarded.call("/certifiers", { headers: auth });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-limit")).toBe("3");
      expect(ok.headers.get("ratelimit-remaining")).toBe(String(2 - i));
      expect(Number(ok.headers.get("ratelimit-reset"))).toBeGreaterThan(3500);
    }
    const limited = await guarded.call("/certifiers", { headers: auth });
    await problemOf(limited, 429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(3500);
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("lets only the tenants of METRICS_TENANTS read /metrics, which names every tenant", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const server = await startTestServer({
      API_KEYS: [`ops:${hashApiKey("o")}`, `team-a:${hashApiKey("a")}`].join(","),
      METRICS_TENANTS: "ops",
    });
    try {
      const as = (k: string) => ({ headers: { authorization: `Bearer ${k}` } });
      expect((await server.call("/metrics", as("o"))).status).toBe(200);
      const denied = await problemOf(await server.call("/metrics", as("a")), 403);
      expect(denied.type).toBe("/problems/forbidden");
      await problemOf(await server.call("/metrics"), 401);
      expect((await server.call("/certifiers", as("a"))).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("shows each tenant only its own samples in /metrics, unless METRICS_TENANTS is *", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const keys = [`team-a:${hashApiKey("a")}`, `team-b:${hashApiKey("b")}`].join(",");
    const as = (k: string) => ({ authorization: `Bearer ${k}` });
    const job = { certifier: "half", input: tensor([0.2, 0.1]), parameters: { n0: 10, n: 50 } };
    const own = await startTestServer({ API_KEYS: keys });
    const all = await startTestServer({ API_KEYS: keys, METRICS_TENANTS: "*" });
    try {
      for (const server of [own, all]) {
        for (const k of ["a", "b"]) {
          const headers = { ...as(k), prefer: "wait=30" };
          expect((await server.call("/certify", { method: "POST", json: job, headers })).status).toBe(200);
        }
      }
      const a = await (await own.call("/metrics", { headers: as("a") })).text();
      expect(a).toMatch(/^dualrs_samples_total\{certifier="half",tenant="team-a"\} [1-9]/m);
      expect(a).toContain("# TYPE dualrs_queued_jobs gauge");
      // Nothing of team-b's, nor the totals that count every tenant's jobs and requests.
      expect(a).not.toContain("team-b");
      for (const name of ["dualrs_queue_depth", "dualrs_jobs", "dualrs_http_requests_total"]) {
        expect(a).not.toContain(name);
      }
      expect(await (await own.call("/metrics", { headers: as("b") })).text()).not.toContain("team-a");
      const every = await (await all.call("/metrics", { headers: as("b") })).text();
      expect(every).toMatch(/tenant="team-a"/);
      expect(every).toMatch(/tenant="team-b"/);
      expect(every).toContain("dualrs_queue_depth");
    } finally {
      await Promise.all([own.stop(), all.stop()]);
    }
  });

  it("counts the keys of one tenant against one budget, and each tenant apart", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const server = await startTestServer({
      API_KEYS: [`team-a:${hashApiKey("a1")}`, `team-a:${hashApiKey("a2")}`, hashApiKey("b")].join(","),
      RATE_LIMIT: "2",
      RATE_LIMIT_WINDOW: "3600",
    });
    try {
      const as = (k: string) => ({ headers: { authorization: `Bearer ${k}` } });
      expect((await server.call("/certifiers", as("a1"))).status).toBe(200);
      expect((await server.call("/certifiers", as("a2"))).status).toBe(200);
      await problemOf(await server.call("/certifiers", as("a1")), 429);
      await problemOf(await server.call("/certifiers", as("a2")), 429);
      expect((await server.call("/certifiers", as("b"))).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
