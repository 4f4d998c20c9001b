import { describe, expect, it } from "vitest";
import { openApiDocument } from "../src/server/openapi.js";

const schemas = openApiDocument().components?.schemas ?? {};
const field = (component: string, ...path: string[]) => {
  let s = schemas[component] as Record<string, unknown>;
  for (const p of path)
    s = (s.properties as Record<string, Record<string, unknown>>)[p] as Record<string, unknown>;
  return s;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullableRef = (name: string) => [ref(name), { type: "null" }];

describe("OpenAPI components", () => {
  it("defines every named schema as itself, never as its nullable form", () => {
    for (const [name, schema] of Object.entries(schemas)) {
      const type = (schema as { type?: unknown }).type;
      expect([name, Array.isArray(type) && type.includes("null")]).toEqual([name, false]);
    }
    expect((schemas.Certificate as { type: string }).type).toBe("object");
    expect((schemas.Metadata as { type: string }).type).toBe("object");
  });

  it("makes a component nullable only where a field allows null", () => {
    expect(field("Job", "certificate").anyOf).toEqual(nullableRef("Certificate"));
    expect(field("Job", "certificate").description).toBe("the certificate, once the job succeeded");
    expect(field("Job", "metadata").anyOf).toEqual(nullableRef("Metadata"));
    expect(field("Job", "error").anyOf).toEqual(nullableRef("JobError"));
    expect(field("Certificate", "stages", "estimator").anyOf).toEqual(nullableRef("StageReport"));
    expect(field("StageReport", "option").anyOf).toEqual(nullableRef("OptionRef"));
    // A request's metadata may be left out, but is never null.
    expect(field("CertifyRequest", "metadata")).toEqual(ref("Metadata"));
  });
});
