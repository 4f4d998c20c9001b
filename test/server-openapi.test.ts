import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../src/server/openapi.js";

describe("the OpenAPI document", () => {
  it("is committed up to date (npm run openapi writes openapi/openapi.json)", async () => {
    const committed = await readFile("openapi/openapi.json", "utf8");
    const fresh = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
    expect(committed === fresh, "openapi/openapi.json is stale: run npm run openapi and commit it").toBe(
      true,
    );
  });

  it("describes every route, its problems and the certificate", () => {
    const doc = openApiDocument();
    expect(Object.keys(doc.paths ?? {}).sort()).toEqual([
      "/certifiers",
      "/certifiers/{id}",
      "/certify",
      "/certify/{id}",
      "/certify/{id}/cancel",
      "/healthz",
      "/metrics",
      "/readyz",
      "/webhooks/secret",
    ]);
    const create = doc.paths?.["/certify"]?.post;
    expect(Object.keys(create?.responses ?? {}).sort()).toEqual(
      ["200", "202", "400", "401", "404", "409", "413", "415", "422", "429", "500", "503"].sort(),
    );
    // Every route that reads the job store says it may be away for now.
    expect(doc.paths?.["/certify/{id}"]?.get?.responses?.["503"]).toBeDefined();
    const cert = doc.components?.schemas?.Certificate as { required?: string[] };
    expect(cert.required?.sort()).toEqual(
      [
        "abstainReason",
        "abstained",
        "alpha",
        "certifiedAtTarget",
        "certifier",
        "fallback",
        "mode",
        "models",
        "noise",
        "parameters",
        "prediction",
        "radius",
        "routing",
        "seed",
        "stages",
      ].sort(),
    );
  });

  it("passes Redocly's recommended lint rules", async () => {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        "node_modules/.bin/redocly",
        ["lint", "openapi/openapi.json", "--format=stylish"],
        { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
      );
    });
    expect(code, output).toBe(0);
    expect(output).not.toMatch(/\d+:\d+\s+warning/);
  });
});
