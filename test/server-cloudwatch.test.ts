import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudWatchMetrics } from "../src/server/cloudwatch.js";
import { loadConfig } from "../src/server/config.js";
import type { JobSpec } from "../src/server/contract/jobs.js";
import {
  type CloudWatchReceiver,
  metricValue,
  type PutMetricData,
  startCloudWatchReceiver,
} from "./helpers/cloudwatch-receiver.js";
import { until } from "./helpers/jobs.js";
import { startRedis } from "./helpers/redis.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

// Dummy credentials and region: the SDK signs with them, and only the loopback receiver sees them.
process.env.AWS_ACCESS_KEY_ID = "AKIDTESTDUALRS";
process.env.AWS_SECRET_ACCESS_KEY = "test-secret";
process.env.AWS_REGION = "eu-west-1";
process.env.AWS_EC2_METADATA_DISABLED = "true";

interface JobBody {
  id: string;
  status: string;
  createdAt: string;
}

let receiver: CloudWatchReceiver;
let server: TestServer;

beforeAll(async () => {
  receiver = await startCloudWatchReceiver();
  server = await startTestServer({
    CLOUDWATCH_NAMESPACE: "DualrsTest",
    DEPLOYMENT_NAME: "dualrs-test",
    CLOUDWATCH_ENDPOINT: receiver.url,
    CLOUDWATCH_INTERVAL: "0.2",
    WORKER_CONCURRENCY: "1",
  });
});

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
});

const post = async (parameters: Record<string, unknown> = {}) => {
  const res = await server.call("/certify", {
    method: "POST",
    json: { certifier: "half", input: { type: "tensor", shape: [2], data: [0.2, 0.1] }, parameters },
  });
  expect(res.status).toBe(202);
  return (await res.json()) as JobBody;
};
const job = async (id: string) => (await (await server.call(`/certify/${id}`)).json()) as JobBody;

/** The first publish that satisfies `predicate` among those that arrive after `from` (default: now). */
async function nextPublish(
  predicate: (p: PutMetricData) => boolean = () => true,
  from = receiver.received.length,
): Promise<PutMetricData> {
  let found: PutMetricData | undefined;
  await until(() => {
    found = receiver.received.slice(from).find(predicate);
    return found !== undefined;
  }, "a matching PutMetricData");
  return found as PutMetricData;
}

const deployment = (p: PutMetricData) => p.body.MetricData[0]?.Dimensions[0]?.Value;
const totalFailed = (of = "dualrs-test") =>
  receiver.received
    .filter((p) => deployment(p) === of)
    .reduce((sum, p) => sum + (metricValue(p, "JobsFailed") ?? 0), 0);

/** Submits a job straight to a server's queue for a certifier that is gone, so that it fails in the runner. */
async function failJob(on: TestServer = server): Promise<void> {
  const bytes = Buffer.from(Float32Array.from([0.2, 0.1]).buffer);
  const spec: JobSpec = {
    certifier: "no-longer-there",
    input: {
      shape: [2],
      data: bytes.toString("base64"),
      sha256: createHash("sha256").update(bytes).digest("hex"),
    },
    parameters: { seed: 1 },
  };
  const { job: failing } = await on.queue.submit(spec, { fingerprint: "f" });
  expect((await on.queue.wait(failing.id, 60_000))?.status).toBe("failed");
}

describe("CloudWatch metrics", () => {
  it("publishes the three metrics, signed, in the namespace, with the Deployment dimension and units", async () => {
    const p = await nextPublish();
    expect(p.headers["x-amz-target"]).toBe("GraniteServiceVersion20100801.PutMetricData");
    expect(p.headers["content-type"]).toBe("application/x-amz-json-1.0");
    expect(p.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTESTDUALRS\/\d{8}\/eu-west-1\/monitoring\/aws4_request, /,
    );
    expect(p.body.Namespace).toBe("DualrsTest");
    expect(p.body.MetricData.map((d) => [d.MetricName, d.Unit])).toEqual([
      ["QueueBacklog", "Count"],
      ["OldestQueuedJobAgeSeconds", "Seconds"],
      ["JobsFailed", "Count"],
    ]);
    for (const d of p.body.MetricData) {
      expect(d.Dimensions).toEqual([{ Name: "Deployment", Value: "dualrs-test" }]);
      expect(d.Timestamp).toBeTypeOf("number");
    }
    // Nothing has been submitted yet.
    expect(p.body.MetricData.map((d) => d.Value)).toEqual([0, 0, 0]);
  });

  it("counts queued and running jobs, and the age of the oldest queued one", async () => {
    const long = await post({ n: 1_000_000_000, batchSize: 1000 });
    await until(async () => (await job(long.id)).status === "running", "the long job to run");
    const first = await post();
    const second = await post();
    const p = await nextPublish((q) => metricValue(q, "QueueBacklog") === 3);
    const age = p.body.MetricData.find((d) => d.MetricName === "OldestQueuedJobAgeSeconds");
    // The oldest queued job is the first one behind the long job, measured at the datapoint's time.
    expect(age?.Value).toBeCloseTo((age?.Timestamp ?? 0) - Date.parse(first.createdAt) / 1000, 2);
    expect(Date.parse(first.createdAt)).toBeLessThanOrEqual(Date.parse(second.createdAt));

    for (const j of [second, first, long]) {
      expect((await server.call(`/certify/${j.id}/cancel`, { method: "POST" })).ok).toBe(true);
    }
    await until(async () => (await job(long.id)).status === "canceled", "the long job to stop");
    const idle = await nextPublish();
    expect([metricValue(idle, "QueueBacklog"), metricValue(idle, "OldestQueuedJobAgeSeconds")]).toEqual([
      0, 0,
    ]);
    // Canceled jobs are not failures.
    expect(totalFailed()).toBe(0);
  });

  it("reports each failed job once, in the publish after it failed", async () => {
    // Counted from before the job fails: on a busy machine the publish that carries the failure
    // can arrive before failJob returns.
    const from = receiver.received.length;
    await failJob();
    await nextPublish((p) => metricValue(p, "JobsFailed") === 1, from);
    // Later datapoints carry no failure again.
    await nextPublish();
    await nextPublish();
    expect(totalFailed()).toBe(1);
  });

  it("logs a failed publish, keeps serving, and reports the failures it missed once CloudWatch answers", async () => {
    const lines: string[] = [];
    receiver.failing = true;
    const publisher = startCloudWatchMetrics(server.queue, {
      namespace: "DualrsTest",
      deployment: "second",
      endpoint: receiver.url,
      intervalMs: 100,
      log: (line) => lines.push(line),
    });
    try {
      await until(() => lines.length >= 2, "two failed publishes");
      expect(lines[0]).toMatch(/^CloudWatch metrics not published: /);
      expect(receiver.refused).toBeGreaterThanOrEqual(2);
      expect((await server.call("/healthz")).status).toBe(200);
      await failJob();
      const missed = lines.length;
      await until(() => lines.length > missed, "a failed publish after the job failed");
      receiver.failing = false;
      await nextPublish((p) => deployment(p) === "second");
      expect(totalFailed("second")).toBe(1);
    } finally {
      receiver.failing = false;
      await publisher.stop();
    }
  });

  it("publishes once more when the server closes", async () => {
    const extra = await startTestServer({
      CLOUDWATCH_NAMESPACE: "DualrsTest",
      DEPLOYMENT_NAME: "closing",
      CLOUDWATCH_ENDPOINT: receiver.url,
      // Longer than the test: the only datapoint is the one sent on close.
      CLOUDWATCH_INTERVAL: "3600",
    });
    const closing = () =>
      receiver.received.filter((p) => p.body.MetricData[0]?.Dimensions[0]?.Value === "closing");
    expect(closing()).toHaveLength(0);
    await extra.stop();
    expect(closing()).toHaveLength(1);
    expect(closing()[0]?.body.MetricData.map((d) => d.Value)).toEqual([0, 0, 0]);
  });
});

describe("CloudWatch metrics on Redis", () => {
  it("reports each failed job once between the API processes of a deployment", async () => {
    const redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: "shared",
      CLOUDWATCH_NAMESPACE: "DualrsTest",
      DEPLOYMENT_NAME: "on-redis",
      CLOUDWATCH_ENDPOINT: receiver.url,
      CLOUDWATCH_INTERVAL: "0.1",
    };
    const a = await startTestServer({ ...env, WORKER_CONCURRENCY: "1" });
    const b = await startTestServer({ ...env, WORKER_CONCURRENCY: "0" });
    try {
      const ofDeployment = () => receiver.received.filter((p) => deployment(p) === "on-redis").length;
      await until(() => ofDeployment() >= 4, "publishes from both processes");
      await failJob(a);
      const after = ofDeployment();
      // Both processes publish several times after the failure; each read the same count of failed jobs.
      await until(() => ofDeployment() >= after + 6, "more publishes from both processes");
      expect(totalFailed("on-redis")).toBe(1);
    } finally {
      await a.stop();
      await b.stop();
      await redis.destroy();
    }
  });
});

describe("CloudWatch configuration", () => {
  it("is off by default and needs DEPLOYMENT_NAME with a namespace", () => {
    expect(loadConfig({}).cloudwatch).toBeUndefined();
    expect(() => loadConfig({ CLOUDWATCH_NAMESPACE: "Dualrs" })).toThrow(
      /DEPLOYMENT_NAME: required with CLOUDWATCH_NAMESPACE/,
    );
    expect(() => loadConfig({ CLOUDWATCH_NAMESPACE: "AWS/ECS", DEPLOYMENT_NAME: "x" })).toThrow(
      /CLOUDWATCH_NAMESPACE .*reserved/,
    );
    expect(() =>
      loadConfig({ CLOUDWATCH_INTERVAL: "0", CLOUDWATCH_NAMESPACE: "D", DEPLOYMENT_NAME: "x" }),
    ).toThrow(/CLOUDWATCH_INTERVAL/);
    expect(() => loadConfig({ CLOUDWATCH_ENDPOINT: "not a url" })).toThrow(/CLOUDWATCH_ENDPOINT/);
    expect(loadConfig({ CLOUDWATCH_NAMESPACE: "Dualrs", DEPLOYMENT_NAME: "prod" }).cloudwatch).toEqual({
      namespace: "Dualrs",
      deployment: "prod",
      endpoint: undefined,
      intervalMs: 60_000,
    });
  });
});
