import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/** Every .ts file under `dir`, as a path relative to the checkout. */
function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

/** What `file` imports: checkout paths (.js read as .ts) for relative imports, package names else. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map(
    (m) => m[1] ?? "",
  );
  return specifiers.map((s) =>
    s.startsWith(".") ? relative(".", resolve(dirname(file), s)).replace(/\.js$/, ".ts") : s,
  );
}

/** `file imports target` for every import of the files under `dir` that `bad` picks out. */
function offending(dir: string, bad: (target: string) => boolean): string[] {
  return sources(dir).flatMap((file) =>
    importsOf(file)
      .filter(bad)
      .map((target) => `${file} imports ${target}`),
  );
}

describe("what each part of the tree may import", () => {
  it("the server imports nothing from the web page's build, esbuild or the CLI", () => {
    expect(offending("src/server", (t) => /^src\/(web|cli)\//.test(t) || t === "esbuild")).toEqual([]);
  });

  it("the CLI reaches the server through its public entry only", () => {
    expect(offending("src/cli", (t) => t.startsWith("src/server/") && t !== "src/server/index.ts")).toEqual(
      [],
    );
  });

  it("no benchmark imports from the tests", () => {
    expect(offending("bench", (t) => t.startsWith("test/"))).toEqual([]);
  });

  it("the engine and the SDK import nothing from the rest of src", () => {
    expect(offending("src/core", (t) => t.startsWith("src/") && !t.startsWith("src/core/"))).toEqual([]);
    expect(offending("src/sdk", (t) => t.startsWith("src/") && !t.startsWith("src/sdk/"))).toEqual([]);
  });
});
