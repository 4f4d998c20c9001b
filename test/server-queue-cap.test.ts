import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "./helpers/jobs.js";
import { type RedisServer, startRedis } from "./helpers/redis.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

/** MAX_QUEUED_JOBS holds when a tenant's submissions all arrive at once, on either queue. */

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

const body = (seed: number, n = 50) => ({
  certifier: "half",
  input: { type: "tensor", shape: [2], data: [0.2, 0.1] },
  parameters: { n0: 10, n, seed },
});

/** 50 submissions at once against a cap of 10: exactly 10 accepted, 40 refused as too many queued. */
async function expectCapHolds(server: TestServer): Promise<void> {
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, seed) => server.call("/certify", { method: "POST", json: body(seed) })),
  );
  expect(answers.filter((r) => r.status === 202)).toHaveLength(10);
  const refused = answers.filter((r) => r.status !== 202);
  expect(refused.map((r) => r.status)).toEqual(new Array(40).fill(429));
  for (const r of refused) {
    expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(r.headers.get("retry-after")).toBe("10");
    expect(((await r.json()) as { type: string }).type).toBe("/problems/too-many-queued-jobs");
  }
  const page = (await (await server.call("/certify?status=queued&limit=100")).json()) as { jobs: unknown[] };
  expect(page.jobs).toHaveLength(10);
}

describe("MAX_QUEUED_JOBS under simultaneous submissions", () => {
  it("holds on the embedded queue", async () => {
    const server = await startTestServer({ MAX_QUEUED_JOBS: "10" });
    try {
      // A job that runs until canceled holds the one worker, so that the queued jobs stay queued.
      const long = await server.call("/certify", { method: "POST", json: body(0, 50_000_000) });
      const { id } = (await long.json()) as { id: string };
      const status = async () =>
        ((await (await server.call(`/certify/${id}`)).json()) as { status: string }).status;
      await until(async () => (await status()) === "running", "the long job to run");
      await expectCapHolds(server);
      await server.call(`/certify/${id}/cancel`, { method: "POST" });
    } finally {
      await server.stop();
    }
  });

  it("holds on Redis", async () => {
    const server = await startTestServer({
      MAX_QUEUED_JOBS: "10",
      REDIS_URL: redis.url,
      REDIS_PREFIX: "cap",
      WORKER_CONCURRENCY: "0",
    });
    try {
      await expectCapHolds(server);
    } finally {
      await server.stop();
    }
  });
});
