import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webRoutes } from "../src/server/routes/web.js";
import { bundleSdk } from "../src/web/bundle.js";

let root: string;

beforeAll(async () => {
  // A package root with only an evaluation's plot in it.
  root = await mkdtemp(join(tmpdir(), "dualrs-web-"));
  await writeFile(join(root, "package.json"), "{}");
  await mkdir(join(root, "docs", "results"), { recursive: true });
  await writeFile(
    join(root, "docs", "results", "certified-accuracy.png"),
    await readFile("docs/web-page.png"),
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("the web page's routes", () => {
  const app = webRoutes();

  it("serves the page, its files and the SDK bundle", async () => {
    const page = await app.request("/");
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain('<script type="module" src="/web/app.js">');
    const images = await app.request("/web/images/index.json");
    expect(((await images.json()) as unknown[]).length).toBe(10);
    const sdk = await app.request("/sdk.js");
    expect(sdk.headers.get("content-type")).toContain("text/javascript");
    expect(await sdk.text()).toBe(await bundleSdk());
  });

  it("serves nothing outside its folder", async () => {
    for (const path of [
      "/web/../package.json",
      "/web/%2e%2e/package.json",
      "/web/..%2f..%2fpackage.json",
      "/web/nope.js",
    ]) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it("serves the certified-accuracy plot when the evaluation has written it", async () => {
    const res = await webRoutes(root).request("/results/certified-accuracy.png");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await res.arrayBuffer()).equals(await readFile("docs/web-page.png"))).toBe(true);
  });
});
