import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/server/config.js";
import { startTestServer } from "./helpers/server.js";

/** Webhooks through the API: refused on loopback unless allowed, then received, verified and listed on the job. */

interface Received {
  body: string;
  headers: Record<string, string>;
}

let receiver: Server;
let url: string;
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ body, headers: req.headers as Record<string, string> });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const address = receiver.address();
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

const request = () => ({
  certifier: "half",
  input: { type: "tensor", shape: [2], data: [0.2, 0.1] },
  parameters: { n0: 10, n: 50 },
  webhook: { url, events: ["job.succeeded"] },
});

describe("webhooks", () => {
  it("refuses a loopback receiver unless ALLOW_PRIVATE_WEBHOOKS", async () => {
    const server = await startTestServer();
    try {
      const res = await server.call("/certify", { method: "POST", json: request() });
      expect(res.status).toBe(422);
      const p = (await res.json()) as { field: string; detail: string };
      expect(p.field).toBe("webhook.url");
      expect(p.detail).toMatch(/not a public address/);
      // IPv4-compatible IPv6 spellings of loopback and of the cloud metadata address.
      for (const host of ["[::127.0.0.1]", "[::169.254.169.254]", "[::]"]) {
        const hook = { ...request(), webhook: { url: `http://${host}:${new URL(url).port}/hook` } };
        const refused = await server.call("/certify", { method: "POST", json: hook });
        expect(refused.status, host).toBe(422);
        expect(((await refused.json()) as { field: string }).field).toBe("webhook.url");
      }
    } finally {
      await server.stop();
    }
  });

  it("delivers the chosen events, signed with WEBHOOK_SECRET, and shows the deliveries on the job", async () => {
    const secret = `whsec_${randomBytes(24).toString("base64")}`;
    const server = await startTestServer({ WEBHOOK_SECRET: secret, ALLOW_PRIVATE_WEBHOOKS: "true" });
    try {
      const res = await server.call("/certify", {
        method: "POST",
        json: request(),
        headers: { prefer: "wait=30" },
      });
      expect(res.status).toBe(200);
      const { id } = (await res.json()) as { id: string };
      let job: { deliveries: { event: string; ok: boolean; status: number | null }[] } = { deliveries: [] };
      for (let i = 0; i < 300 && job.deliveries.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        job = (await (await server.call(`/certify/${id}`)).json()) as typeof job;
      }
      expect(job.deliveries).toMatchObject([{ event: "job.succeeded", ok: true, status: 200 }]);
      const message = received.find((m) => m.body.includes(id));
      expect(message).toBeDefined();
      const payload = new Webhook(secret).verify(message?.body ?? "", message?.headers ?? {}) as {
        type: string;
        data: { id: string; status: string };
      };
      expect(payload.type).toBe("job.succeeded");
      expect(payload.data).toMatchObject({ id, status: "succeeded" });
    } finally {
      await server.stop();
    }
  });

  it("signs each tenant's deliveries with its own secret, which GET /webhooks/secret gives that tenant", async () => {
    const { hashApiKey } = await import("../src/server/middleware/auth.js");
    const secret = `whsec_${randomBytes(24).toString("base64")}`;
    const server = await startTestServer({
      WEBHOOK_SECRET: secret,
      ALLOW_PRIVATE_WEBHOOKS: "true",
      API_KEYS: `team-a:${hashApiKey("a")},team-b:${hashApiKey("b")}`,
    });
    try {
      const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
      const secretOf = async (key: string) => {
        const res = await server.call("/webhooks/secret", as(key));
        expect(res.status).toBe(200);
        return (await res.json()) as { tenant: string; secret: string };
      };
      const [a, b] = [await secretOf("a"), await secretOf("b")];
      expect(a.tenant).toBe("team-a");
      expect(b.tenant).toBe("team-b");
      expect(new Set([a.secret, b.secret, secret]).size).toBe(3);
      expect(await secretOf("a")).toEqual(a);
      expect((await server.call("/webhooks/secret")).status).toBe(401);

      const res = await server.call("/certify", {
        method: "POST",
        json: request(),
        headers: { ...as("a").headers, prefer: "wait=30" },
      });
      const { id } = (await res.json()) as { id: string };
      let message: Received | undefined;
      for (let i = 0; i < 300 && !message; i++) {
        await new Promise((r) => setTimeout(r, 20));
        message = received.find((m) => m.body.includes(id));
      }
      const verify = (key: string) => () =>
        new Webhook(key).verify(message?.body ?? "", message?.headers ?? {});
      expect(verify(a.secret)()).toMatchObject({ type: "job.succeeded", data: { id } });
      expect(verify(b.secret)).toThrow();
      expect(verify(secret)).toThrow();
    } finally {
      await server.stop();
    }
  });

  it("answers GET /webhooks/secret with 404 when the server has no WEBHOOK_SECRET", async () => {
    const server = await startTestServer();
    try {
      const res = await server.call("/webhooks/secret");
      expect(res.status).toBe(404);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no WEBHOOK_SECRET/);
    } finally {
      await server.stop();
    }
  });

  it("refuses a malformed WEBHOOK_SECRET at start-up, naming it", () => {
    expect(() => loadConfig({ WEBHOOK_SECRET: "hunter2" })).toThrow(
      /^invalid configuration: WEBHOOK_SECRET: expected whsec_/,
    );
  });
});
