import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  Dualrs,
  JobError,
  NotFoundError,
  RateLimitError,
  UnprocessableEntityError,
  WebhookVerificationError,
} from "../src/sdk/index.js";
import type { CertifyRequest, Job } from "../src/sdk/types.js";
import { hashApiKey } from "../src/server/middleware/auth.js";
import { type SdkServer, samplePixels, startSdkServer } from "./helpers/sdk-server.js";

const SECRET = `whsec_${Buffer.from("dualrs sdk test webhook secret!!").toString("base64")}`;

/** Deliveries a real receiver on loopback got: raw body and headers, as a webhook handler sees them. */
const received: { body: string; headers: Record<string, string> }[] = [];
let receiver: Server;
let receiverURL: string;
let server: SdkServer;
let client: Dualrs;

const half = (x: [number, number], parameters: CertifyRequest["parameters"] = {}): CertifyRequest => ({
  certifier: "half",
  input: { type: "tensor", shape: [2], data: x },
  parameters: { seed: 11, ...parameters },
});

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ body, headers: req.headers as Record<string, string> });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverURL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  server = await startSdkServer({ WEBHOOK_SECRET: SECRET, ALLOW_PRIVATE_WEBHOOKS: "true" });
  client = new Dualrs({ baseURL: server.url });
});

afterAll(async () => {
  await server?.stop();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

describe("certifiers", () => {
  it("lists and gets certifiers", async () => {
    const all = await client.certifiers.list();
    expect(all.map((c) => c.id).sort()).toEqual(["bright", "dual-half", "fmnist-templates", "half"]);
    const dual = await client.certifiers.get("fmnist-templates");
    expect(dual.input.shape).toEqual([1, 28, 28]);
    expect(dual.estimator?.sigma).toBe(0.25);
    expect(dual.input.accepts).toContain("image");
  });

  it("throws NotFoundError with the problem and request id for an unknown certifier", async () => {
    const error = await client.certifiers.get("nope").catch((e) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.status).toBe(404);
    expect(error.problem.status).toBe(404);
    expect(error.requestId).toMatch(/.+/);
  });
});

describe("certify", () => {
  it("creates a job, gets it, and waits for it on the server with Prefer: wait", async () => {
    const job = await client.certify.create(half([0.8, 0.6]));
    expect(job.certifier).toBe("half");
    expect(["queued", "running", "succeeded"]).toContain(job.status);
    expect((await client.certify.get(job.id)).id).toBe(job.id);
    const waited = await client.certify.create(half([0.8, 0.6], { seed: 12 }), { wait: 30 });
    expect(waited.status).toBe("succeeded");
    // Some seconds of work: without the wait the answer would find it queued or running.
    const later = await client.certify.create(half([0.8, 0.6], { seed: 13, n: 3_000_000, batchSize: 1000 }), {
      wait: 0,
    });
    expect((await client.certify.get(later.id, { wait: 60 })).status).toBe("succeeded");
    expect(waited.certificate?.prediction?.label).toBe("pos");
  });

  it("runs a dual certification on a real image and reports progress", async () => {
    const seen: Job[] = [];
    const data = Buffer.from(Float32Array.from(await samplePixels("fmnist-test-0.png")).buffer).toString(
      "base64",
    );
    const certificate = await client.certify.run(
      {
        certifier: "fmnist-templates",
        input: { type: "tensor", shape: [1, 28, 28], data },
        parameters: { n: 512, seed: 3 },
      },
      { wait: 0, pollInterval: 20, onProgress: (j) => seen.push(j) },
    );
    expect(certificate.mode).toBe("dual");
    expect(certificate.prediction?.label).toBe("Ankle boot");
    expect(certificate.radius).toBeGreaterThan(0);
    expect(certificate.stages.estimator?.option).not.toBeNull();
    expect(seen.at(-1)?.status).toBe("succeeded");
    expect(seen.length).toBeGreaterThan(1);
  });

  it("returns the same job for a repeated Idempotency-Key, and a 422 for the key with another body", async () => {
    const a = await client.certify.create(half([0.5, 0.5]), { idempotencyKey: "same-key" });
    const b = await client.certify.create(half([0.5, 0.5]), { idempotencyKey: "same-key" });
    expect(b.id).toBe(a.id);
    const error = await client.certify
      .create(half([0.1, 0.1]), { idempotencyKey: "same-key" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(UnprocessableEntityError);
    expect(error.problem.field).toBe("Idempotency-Key");
  });

  it("throws UnprocessableEntityError naming the field, and NotFoundError for an unknown certifier", async () => {
    const bad = await client.certify.create(half([0.1, 0.2], { n: 0 })).catch((e) => e);
    expect(bad).toBeInstanceOf(UnprocessableEntityError);
    expect(bad.problem.field).toBe("parameters.n");
    const shape = await client.certify
      .create({ certifier: "half", input: { type: "tensor", shape: [3], data: [0, 0, 0] } })
      .catch((e) => e);
    expect(shape).toBeInstanceOf(UnprocessableEntityError);
    expect(shape.problem.expectedShape).toEqual([2]);
    const unknown = await client.certify.create({ ...half([0, 0]), certifier: "nope" }).catch((e) => e);
    expect(unknown).toBeInstanceOf(NotFoundError);
    await expect(client.certify.get("no-such-job")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("throws BadRequestError for a bad query and APIError for a body over the limit", async () => {
    await expect(client.certify.list({ limit: 0 }).next()).rejects.toBeInstanceOf(BadRequestError);
    const big = await client.certify
      .create({ certifier: "half", input: { type: "image", data: "A".repeat(5 * 1024 * 1024) } })
      .catch((e) => e);
    expect(big).toBeInstanceOf(APIError);
    expect(big.status).toBe(413);
  });

  it("throws JobError when a job ends without a certificate", async () => {
    const job = await client.certify.create(half([0.9, 0.9], { n: 50_000_000, batchSize: 1000 }), {
      wait: 0,
    });
    await client.certify.cancel(job.id);
    const canceled = await client.certify
      .run(half([0.9, 0.9], { n: 50_000_000, batchSize: 1000 }), {
        idempotencyKey: "canceled-run",
        wait: 0,
        pollInterval: 20,
        onProgress: (j) => {
          if (j.status === "running" || j.status === "queued") void client.certify.cancel(j.id);
        },
      })
      .catch((e) => e);
    expect(canceled).toBeInstanceOf(JobError);
    expect(canceled.job.status).toBe("canceled");
  });

  it("cancels a job, and a cancel of a finished job is a ConflictError", async () => {
    const job = await client.certify.create(half([0.9, 0.9], { n: 50_000_000, batchSize: 1000 }));
    const canceled = await client.certify.cancel(job.id);
    expect(canceled.cancelRequested).toBe(true);
    const finished = await client.certify.create(half([0.9, 0.8], { seed: 99 }), { wait: 30 });
    expect(finished.status).toBe("succeeded");
    const error = await client.certify.cancel(finished.id).catch((e) => e);
    expect(error).toBeInstanceOf(ConflictError);
    await client.certify.delete(finished.id);
    await expect(client.certify.get(finished.id)).rejects.toBeInstanceOf(NotFoundError);
    const running = await client.certify.create(half([0.9, 0.9], { n: 50_000_000, batchSize: 1000 }));
    await expect(client.certify.delete(running.id)).rejects.toBeInstanceOf(ConflictError);
    await client.certify.cancel(running.id);
  });

  it("aborts run() through its AbortSignal and cancels the job on the server", async () => {
    const controller = new AbortController();
    let id = "";
    const error = await client.certify
      .run(half([0.7, 0.7], { n: 50_000_000, batchSize: 1000 }), {
        signal: controller.signal,
        wait: 0,
        pollInterval: 20,
        onProgress: (j) => {
          id = j.id;
          controller.abort();
        },
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(APIUserAbortError);
    let job = await client.certify.get(id);
    for (let i = 0; i < 500 && job.status !== "canceled"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      job = await client.certify.get(id);
    }
    expect(job.status).toBe("canceled");
  });

  it("lists jobs a page at a time", async () => {
    const ids = new Set<string>();
    let pages = 0;
    for await (const page of client.certify.list({ limit: 2 })) {
      pages++;
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      for (const j of page.jobs) ids.add(j.id);
    }
    expect(pages).toBeGreaterThan(2);
    const created = await client.certify.create(half([0.3, 0.3], { seed: 5 }));
    const first = await client.certify.list({ limit: 1 }).next();
    expect(first.value?.jobs[0]?.id).toBe(created.id);
    expect(ids.size).toBeGreaterThan(4);
  });
});

describe("webhooks", () => {
  it("verifies the signatures the server made, and refuses tampered, stale or wrongly keyed deliveries", async () => {
    const job = await client.certify.create({
      ...half([0.8, 0.7], { seed: 21 }),
      webhook: { url: receiverURL },
    });
    for (let i = 0; i < 1000 && !received.some((r) => r.body.includes(job.id)); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const delivery = received.find((r) => r.body.includes(job.id));
    expect(delivery).toBeDefined();
    if (!delivery) return;
    // Without API keys the one tenant is anonymous, whose deliveries the server's own secret signs.
    expect(await client.webhooks.secret()).toBe(SECRET);
    const event = await client.webhooks.verify(delivery.body, delivery.headers, SECRET);
    expect(event.type).toBe("job.succeeded");
    expect(event.data.id).toBe(job.id);
    const asHeaders = new Headers(delivery.headers);
    expect(
      (await client.webhooks.verify(new TextEncoder().encode(delivery.body), asHeaders, SECRET)).type,
    ).toBe("job.succeeded");

    const refuse = (body: string, headers: Record<string, string>, secret = SECRET) =>
      expect(client.webhooks.verify(body, headers, secret)).rejects.toBeInstanceOf(WebhookVerificationError);
    await refuse(delivery.body.replace("succeeded", "failed"), delivery.headers);
    await refuse(
      delivery.body,
      delivery.headers,
      `whsec_${Buffer.from("another secret, also 32 bytes!!").toString("base64")}`,
    );
    await refuse(delivery.body, { ...delivery.headers, "webhook-signature": "" });
    const id = delivery.headers["webhook-id"] ?? "";
    const stale = String(Math.floor(Date.now() / 1000) - 6 * 60);
    const key = Buffer.from(SECRET.slice("whsec_".length), "base64");
    const signature = createHmac("sha256", key).update(`${id}.${stale}.${delivery.body}`).digest("base64");
    await refuse(delivery.body, {
      ...delivery.headers,
      "webhook-timestamp": stale,
      "webhook-signature": `v1,${signature}`,
    });
  });
});

describe("API keys and rate limits", () => {
  let guarded: SdkServer;
  beforeAll(async () => {
    guarded = await startSdkServer({
      API_KEYS: hashApiKey("sk-right"),
      RATE_LIMIT: "1",
      RATE_LIMIT_WINDOW: "1",
    });
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  it("throws AuthenticationError without a valid key, RateLimitError past the limit, and retries 429", async () => {
    await expect(new Dualrs({ baseURL: guarded.url }).certifiers.list()).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    await expect(
      new Dualrs({ baseURL: guarded.url, apiKey: "sk-wrong" }).certifiers.list(),
    ).rejects.toBeInstanceOf(AuthenticationError);
    const keyed = new Dualrs({ baseURL: guarded.url, apiKey: "sk-right", maxRetries: 0 });
    await keyed.certifiers.list().catch(() => {});
    const limited = await keyed.certifiers.list().catch((e) => e);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    const patient = new Dualrs({ baseURL: guarded.url, apiKey: "sk-right", maxRetries: 3 });
    expect((await patient.certifiers.list()).length).toBe(4);
  });
});
