import { join } from "node:path";
import { RateLimiterRes } from "rate-limiter-flexible";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore } from "../src/runtime/model-store.js";
import { createRedisWorker, type RedisWorker } from "../src/server/jobs/redis-worker.js";
import { openRateLimiter } from "../src/server/rate-limiter.js";
import { until } from "./helpers/jobs.js";
import { type RedisServer, startRedis } from "./helpers/redis.js";
import { startTestServer } from "./helpers/server.js";

/** The same API on BullMQ: REDIS_URL selects it, with a local worker or with separate workers. */

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

const body = (x: number) => ({
  certifier: "half",
  input: { type: "tensor", shape: [2], data: [x, 0.1] },
  parameters: { n0: 10, n: 50, seed: 3 },
});

describe("REDIS_URL", () => {
  it("runs jobs on BullMQ with a worker in the API process", async () => {
    const server = await startTestServer({ REDIS_URL: redis.url, REDIS_PREFIX: "local" });
    try {
      const ready = (await (await server.call("/readyz")).json()) as { queue: { detail: string } };
      expect(ready.queue.detail).not.toMatch(/embedded/);
      const res = await server.call("/certify", {
        method: "POST",
        json: body(0.2),
        headers: { prefer: "wait=30" },
      });
      expect(res.status).toBe(200);
      const job = (await res.json()) as { id: string; certificate: { prediction: { label: string } } };
      expect(job.certificate.prediction.label).toBe("pos");
      const again = await server.call("/certify", {
        method: "POST",
        json: body(0.2),
        headers: { "idempotency-key": "k" },
      });
      const replay = await server.call("/certify", {
        method: "POST",
        json: body(0.2),
        headers: { "idempotency-key": "k" },
      });
      expect(((await replay.json()) as { id: string }).id).toBe(((await again.json()) as { id: string }).id);
      const other = await server.call("/certify", {
        method: "POST",
        json: body(0.3),
        headers: { "idempotency-key": "k" },
      });
      expect(other.status).toBe(422);
      const page = (await (await server.call("/certify?limit=1")).json()) as { nextCursor: string | null };
      expect(page.nextCursor).not.toBeNull();
    } finally {
      await server.stop();
    }
  });

  it("serves the API alone (WORKER_CONCURRENCY=0) while a separate worker runs the jobs", async () => {
    const server = await startTestServer({
      REDIS_URL: redis.url,
      REDIS_PREFIX: "split",
      WORKER_CONCURRENCY: "0",
    });
    let worker: RedisWorker | undefined;
    try {
      const res = await server.call("/certify", { method: "POST", json: body(-0.5) });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      expect(((await (await server.call(`/certify/${id}`)).json()) as { status: string }).status).toBe(
        "queued",
      );
      worker = await createRedisWorker({
        redisUrl: redis.url,
        prefix: "split",
        store: localModelStore(join(server.dir, "models")),
        providers: ["cpu"],
      });
      const done = await server.call("/certify", {
        method: "POST",
        json: body(-0.5),
        headers: { prefer: "wait=30" },
      });
      expect(done.status).toBe(200);
      const first = await server.call(`/certify/${id}`);
      const job = (await first.json()) as {
        status: string;
        certificate: { prediction: { label: string } | null };
      };
      expect(job.status).toBe("succeeded");
      expect(job.certificate.prediction?.label).toBe("neg");
    } finally {
      await worker?.close();
      await server.stop();
    }
  });

  it("holds RATE_LIMIT for the deployment: API processes on one Redis share each tenant's budget", async () => {
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: "limits", RATE_LIMIT: "3", RATE_LIMIT_WINDOW: "3600" };
    const a = await startTestServer(env);
    const b = await startTestServer(env);
    try {
      expect((await a.call("/certifiers")).status).toBe(200);
      expect((await b.call("/certifiers")).status).toBe(200);
      const third = await a.call("/certifiers");
      expect(third.status).toBe(200);
      expect(third.headers.get("ratelimit-remaining")).toBe("0");
      expect((await b.call("/certifiers")).status).toBe(429);
      expect((await a.call("/certifiers")).status).toBe(429);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("answers 503 with Retry-After while Redis is away, and the job again once it is back", async () => {
    const own = await startRedis();
    const server = await startTestServer({
      REDIS_URL: own.url,
      REDIS_PREFIX: "away",
      WORKER_CONCURRENCY: "0",
    });
    try {
      const { id } = (await (await server.call("/certify", { method: "POST", json: body(0.2) })).json()) as {
        id: string;
      };
      await own.stop();
      const unavailable = async (res: Response) => {
        expect(res.status).toBe(503);
        expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(await res.json()).toMatchObject({ type: "/problems/unavailable", status: 503 });
      };
      await unavailable(await server.call(`/certify/${id}`));
      await unavailable(await server.call("/certify"));
      await unavailable(await server.call("/certify", { method: "POST", json: body(0.3) }));
      await own.start();
      await until(async () => (await server.call(`/certify/${id}`)).status === 200, "Redis to be back");
      const job = (await (await server.call(`/certify/${id}`)).json()) as { id: string; status: string };
      expect(job).toMatchObject({ id, status: "queued" });
    } finally {
      await server.stop();
      await own.destroy();
    }
  });

  it("counts in each process while Redis is away, neither refusing nor waving through every request", async () => {
    const own = await startRedis();
    const { limiter, close } = await openRateLimiter(
      { limit: 2, windowSeconds: 3600 },
      { url: own.url, prefix: "away" },
    );
    try {
      if (!limiter) throw new Error("expected a limiter");
      await limiter.consume("t");
      await limiter.consume("t");
      await expect(limiter.consume("t")).rejects.toBeInstanceOf(RateLimiterRes);
      await own.destroy();
      // Redis is gone: the process's own count starts from nothing and still stops at the limit.
      await limiter.consume("t");
      await limiter.consume("t");
      await expect(limiter.consume("t")).rejects.toBeInstanceOf(RateLimiterRes);
    } finally {
      await close();
      await own.destroy();
    }
  });
});
