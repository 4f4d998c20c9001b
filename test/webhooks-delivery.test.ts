import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore } from "../src/runtime/model-store.js";
import type { Job, JobEvent, JobQueue } from "../src/server/contract/jobs.js";
import { createEmbeddedQueue } from "../src/server/jobs/embedded.js";
import { createRunner, type Runner } from "../src/server/jobs/runner.js";
import { owedAttempt, type WebhookOptions } from "../src/server/webhooks/dispatcher.js";
import type { WebhookPayload } from "../src/server/webhooks/payload.js";
import {
  checkWebhookUrl,
  guardedLookup,
  isPublicAddress,
  WebhookUrlError,
} from "../src/server/webhooks/url-guard.js";
import { writeHalfSpaceZoo } from "./helpers/halfspace.js";
import { halfSpaceSpec, until } from "./helpers/jobs.js";

const secret = `whsec_${randomBytes(24).toString("base64")}`;

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

/** A real receiver on a loopback port that answers with the statuses it is given, then 200. */
async function receiver(
  statuses: number[] = [],
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

let zoo: string;
let runner: Runner;
const servers: Server[] = [];
const queues: JobQueue[] = [];
const dirs: string[] = [];

async function queue(webhooks: WebhookOptions): Promise<JobQueue> {
  const dataDir = await mkdtemp(join(tmpdir(), "dualrs-webhooks-"));
  dirs.push(dataDir);
  const q = await createEmbeddedQueue({ store: localModelStore(zoo), dataDir, runner, webhooks });
  queues.push(q);
  return q;
}

async function run(q: JobQueue, url: string, events: JobEvent[]): Promise<Job> {
  const { job } = await q.submit(halfSpaceSpec({}, { webhook: { url, events } }), { fingerprint: "f" });
  return (await q.wait(job.id, 60_000)) as Job;
}

beforeAll(async () => {
  zoo = await writeHalfSpaceZoo();
  runner = createRunner({ store: localModelStore(zoo), threads: 1, providers: ["cpu"] });
});

afterAll(async () => {
  for (const q of queues) await q.close();
  await runner.close();
  for (const s of servers) s.close();
  for (const d of [zoo, ...dirs]) await rm(d, { recursive: true, force: true });
});

describe("webhook URL guard", () => {
  it("tells public addresses from private, loopback, link-local and reserved ones", () => {
    const refused = [
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "127.0.0.1",
      "0.0.0.0",
      "169.254.169.254",
      "100.64.0.1",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      // IPv4-compatible (::/96), as written and as URL normalizes it: none is public.
      "::127.0.0.1",
      "::7f00:1",
      "::10.0.0.1",
      "::8.8.8.8",
      "::1:2",
      "not an address",
    ];
    for (const a of refused) expect(isPublicAddress(a), a).toBe(false);
    for (const a of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPublicAddress(a), a).toBe(true);
    }
  });

  it("refuses URLs that are not http(s), carry credentials or reach non-public hosts", async () => {
    const deny = { allowPrivate: false };
    const cases: [string, RegExp][] = [
      ["ftp://8.8.8.8/x", /http or https/],
      ["not a url", /valid absolute URL/],
      ["http://user:pw@8.8.8.8/x", /credentials/],
      ["http://127.0.0.1:9/x", /127\.0\.0\.1.*not a public address/],
      ["http://[::1]/x", /not a public address/],
      ["http://[::127.0.0.1]/x", /\[::7f00:1\] resolves to ::7f00:1, which is not a public address/],
      ["http://[::169.254.169.254]/latest/meta-data", /not a public address/],
      ["http://169.254.169.254/latest/meta-data", /not a public address/],
      ["http://localhost/x", /localhost resolves to .*not a public address/],
    ];
    for (const [url, message] of cases) {
      const check = checkWebhookUrl(url, deny);
      await expect(check, url).rejects.toBeInstanceOf(WebhookUrlError);
      await expect(check, url).rejects.toThrow(message);
    }
    await expect(checkWebhookUrl("https://8.8.8.8/hook", deny)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("http://127.0.0.1:9/x", { allowPrivate: true })).resolves.toBeInstanceOf(
      URL,
    );
  });

  it("checks the address a delivery connects to at connection time", async () => {
    const lookup = (allowPrivate: boolean) =>
      new Promise<string>((resolve, reject) =>
        guardedLookup({ allowPrivate })("localhost", {}, (err, address) =>
          err ? reject(err) : resolve(String(address)),
        ),
      );
    await expect(lookup(false)).rejects.toThrow(/not a public address/);
    expect(isPublicAddress(await lookup(true))).toBe(false);
  });
});

describe("webhook delivery", () => {
  it("delivers the filtered events, signed per Standard Webhooks, and records each delivery on the job", async () => {
    const r = await receiver();
    const q = await queue({ secret, allowPrivate: true });
    const job = await run(q, r.url, ["job.running", "job.succeeded"]);
    expect(job.status).toBe("succeeded");
    await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 2, "two deliveries");
    const verifier = new Webhook(secret);
    const payloads = r.received.map(
      (m) => verifier.verify(m.body, m.headers as Record<string, string>) as WebhookPayload,
    );
    expect(payloads.map((p) => p.type).sort()).toEqual(["job.running", "job.succeeded"]);
    const succeeded = payloads.find((p) => p.type === "job.succeeded");
    expect(succeeded?.data).toMatchObject({ id: job.id, status: "succeeded", certificate: job.certificate });
    // the public job shape of GET /certify/{id}, less its deliveries
    expect(succeeded?.data.input).toEqual({ shape: job.spec.input.shape, sha256: job.spec.input.sha256 });
    expect(succeeded?.data.certifier).toBe(job.spec.certifier);
    expect(succeeded?.data).not.toHaveProperty("deliveries");
    // A signature made with another secret does not verify.
    const other = new Webhook(`whsec_${randomBytes(24).toString("base64")}`);
    expect(() =>
      other.verify(r.received[0]?.body ?? "", r.received[0]?.headers as Record<string, string>),
    ).toThrow();
    const deliveries = (await q.get(job.id))?.deliveries ?? [];
    expect(deliveries.map((d) => [d.event, d.attempt, d.status, d.ok]).sort()).toEqual([
      ["job.running", 1, 200, true],
      ["job.succeeded", 1, 200, true],
    ]);
    expect(new Set(r.received.map((m) => m.headers["webhook-id"]))).toEqual(
      new Set(deliveries.map((d) => d.id)),
    );
  });

  it("retries with backoff until the receiver takes it, under one webhook-id", async () => {
    const r = await receiver([500, 503]);
    const q = await queue({ secret, allowPrivate: true, backoffMs: 10 });
    const job = await run(q, r.url, ["job.succeeded"]);
    await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 3, "three attempts");
    const deliveries = (await q.get(job.id))?.deliveries ?? [];
    expect(deliveries.map((d) => [d.attempt, d.status, d.ok])).toEqual([
      [1, 500, false],
      [2, 503, false],
      [3, 200, true],
    ]);
    expect(new Set(r.received.map((m) => m.headers["webhook-id"])).size).toBe(1);
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(1);
  });

  it("makes no more attempts for a job forgotten while a retry waits", async () => {
    const r = await receiver([500, 500, 500]);
    const q = await queue({ secret, allowPrivate: true, backoffMs: 300 });
    const job = await run(q, r.url, ["job.succeeded"]);
    await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 1, "the first attempt");
    expect(await q.forget(job.id)).toBe(true);
    // Longer than the retries' backoff (0.3 s, then 0.6 s): none of them is made.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(r.received).toHaveLength(1);
  });

  it("goes on after a restart with the attempt it owed, from the attempts on the job", async () => {
    const r = await receiver([500]);
    const dataDir = await mkdtemp(join(tmpdir(), "dualrs-webhooks-"));
    dirs.push(dataDir);
    const open = (backoffMs: number) =>
      createEmbeddedQueue({
        store: localModelStore(zoo),
        dataDir,
        runner,
        webhooks: { secret, allowPrivate: true, backoffMs },
      });
    // The second attempt is a minute away when the process stops...
    const first = await open(60_000);
    const job = await run(first, r.url, ["job.succeeded"]);
    await until(async () => ((await first.get(job.id))?.deliveries.length ?? 0) === 1, "the first attempt");
    await first.close();
    // ...and the process that starts on its journal makes it (due at once with its backoff).
    const second = await open(10);
    queues.push(second);
    await until(async () => ((await second.get(job.id))?.deliveries.length ?? 0) === 2, "the second attempt");
    const deliveries = (await second.get(job.id))?.deliveries ?? [];
    expect(deliveries.map((d) => [d.attempt, d.status, d.ok])).toEqual([
      [1, 500, false],
      [2, 200, true],
    ]);
    expect(new Set(r.received.map((m) => m.headers["webhook-id"])).size).toBe(1);
  });

  it("knows which attempt of an event is owed, and when", () => {
    const at = Date.parse("2026-01-01T00:00:00Z");
    const job = {
      spec: { webhook: { url: "https://example.com", events: ["job.succeeded"] } },
      deliveries: [],
    } as unknown as Job;
    const made = (attempt: number, ok: boolean, event: JobEvent = "job.succeeded") => ({
      id: "m",
      event,
      attempt,
      at: new Date(at).toISOString(),
      status: ok ? 200 : 500,
      ok,
    });
    const options = { backoffMs: 1000, maxAttempts: 3 };
    // Never attempted (the process stopped first): the first attempt, now.
    expect(owedAttempt(options, job, "job.succeeded", at)).toEqual({ attempt: 1, delayMs: 0 });
    expect(owedAttempt(options, job, "job.failed", at)).toBeNull();
    job.deliveries = [made(1, false), made(1, true, "job.running")];
    expect(owedAttempt(options, job, "job.succeeded", at + 400)).toEqual({ attempt: 2, delayMs: 600 });
    expect(owedAttempt(options, job, "job.succeeded", at + 5000)).toEqual({ attempt: 2, delayMs: 0 });
    job.deliveries = [made(1, false), made(2, false)];
    expect(owedAttempt(options, job, "job.succeeded", at)).toEqual({ attempt: 3, delayMs: 2000 });
    job.deliveries = [made(1, false), made(2, false), made(3, false)];
    expect(owedAttempt(options, job, "job.succeeded", at)).toBeNull();
    job.deliveries = [made(1, false), made(2, true)];
    expect(owedAttempt(options, job, "job.succeeded", at)).toBeNull();
  });

  it("gives up after the last attempt, and refuses a private receiver at delivery time", async () => {
    const r = await receiver();
    const q = await queue({ secret, allowPrivate: false, backoffMs: 1, maxAttempts: 2 });
    // Accepted as though the URL had been public when checked (DNS rebinding): delivery checks again.
    const job = await run(q, r.url, ["job.succeeded"]);
    await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 2, "two attempts");
    const deliveries = (await q.get(job.id))?.deliveries ?? [];
    expect(
      deliveries.every((d) => !d.ok && d.status === null && /not a public address/.test(d.error ?? "")),
    ).toBe(true);
    expect(r.received).toEqual([]);
  });

  it("records a failed delivery when no signing secret is configured", async () => {
    const r = await receiver();
    const q = await queue({ allowPrivate: true });
    const job = await run(q, r.url, ["job.succeeded"]);
    await until(async () => ((await q.get(job.id))?.deliveries.length ?? 0) === 1, "one attempt");
    expect((await q.get(job.id))?.deliveries[0]).toMatchObject({
      ok: false,
      error: expect.stringMatching(/secret/),
    });
    expect(r.received).toEqual([]);
  });
});
