import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isJobId, newJobId } from "../src/server/contract/ids.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe("job ids in the API's paths", () => {
  it("answers an id that is no UUIDv7 with a 404 naming the parameter, before any lookup", async () => {
    for (const [path, method] of [
      ["/certify/no-such-job", "GET"],
      ["/certify/01JDQ3V3W4ZB6S3X8N2Y7K5M9P/cancel", "POST"],
      ["/certify/no-such-job", "DELETE"],
    ] as const) {
      const res = await server.call(path, { method });
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      const p = (await res.json()) as { type: string; field?: string; detail: string };
      expect(p).toMatchObject({ type: "/problems/not-found", field: "id" });
      expect(p.detail).toMatch(/UUIDv7/);
    }
  });

  it("looks up a well-formed id, and one never issued is unknown", async () => {
    const res = await server.call(`/certify/${newJobId()}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/^no job "/);
  });

  it("publishes an example id that the API accepts", async () => {
    const doc = JSON.parse(await readFile("openapi/openapi.json", "utf8"));
    const params = Object.entries(doc.paths as Record<string, Record<string, { parameters?: unknown[] }>>)
      .filter(([path]) => path.startsWith("/certify/{id}"))
      .flatMap(([, item]) => Object.values(item).flatMap((op) => op.parameters ?? []))
      .filter(
        (p) => (p as { in: string; name: string }).in === "path" && (p as { name: string }).name === "id",
      );
    expect(params.length).toBeGreaterThan(0);
    for (const p of params as { schema: { example: string } }[]) expect(isJobId(p.schema.example)).toBe(true);
    expect(isJobId(newJobId())).toBe(true);
  });
});
