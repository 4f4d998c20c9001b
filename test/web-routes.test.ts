import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultWebDir, webRoutes } from "../src/server/routes/web.js";
import { buildWebAssets } from "../src/web/assets.js";
import { bundleSdk } from "../src/web/bundle.js";
import { buildPackage } from "./helpers/build.js";
import { ensureWebBuild } from "./helpers/web-build.js";

let root: string;

beforeAll(async () => {
  await ensureWebBuild();
  // A page's folder with only an evaluation's plot in it.
  root = await mkdtemp(join(tmpdir(), "dualrs-web-"));
  await mkdir(join(root, "results"), { recursive: true });
  await writeFile(join(root, "results", "certified-accuracy.png"), await readFile("docs/web-page.png"));
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

  it("serves the plot of docs/results that the build copied", async () => {
    const res = await app.request("/results/certified-accuracy.png");
    expect(res.status).toBe(200);
    const plot = await readFile("docs/results/certified-accuracy.png");
    expect(Buffer.from(await res.arrayBuffer()).equals(plot)).toBe(true);
  });

  it("says to run npm run build where the folder has no SDK bundle", async () => {
    const empty = webRoutes(join(root, "nothing-here"));
    const sdk = await empty.request("/sdk.js");
    expect(sdk.status).toBe(503);
    expect(sdk.headers.get("content-type")).toBe("application/problem+json");
    expect(((await sdk.json()) as { detail: string }).detail).toContain("npm run build");
    expect((await empty.request("/")).status).toBe(404);
  });
});

describe("the page's folder", () => {
  it("is dist/web beside the built server, whether its code sits in a chunk or in an entry", async () => {
    const dist = join(root, "package", "dist");
    await mkdir(join(dist, "web", "public"), { recursive: true });
    await writeFile(join(dist, "web", "public", "index.html"), "");
    for (const module of ["chunk-ABC.js", "server/index.js", "cli/index.js"]) {
      expect(defaultWebDir(pathToFileURL(join(dist, module)).href), module).toBe(join(dist, "web"));
    }
    // From source: the checkout's dist/web, which npm run build writes.
    expect(defaultWebDir()).toBe(join(process.cwd(), "dist", "web"));
  });

  it("is what the built dualrs serve serves, with no source tree beside it", async () => {
    // A build of its own with the page's folder beside it, and no package.json or src/ above it
    // but the one the build helper writes: nothing to find the source tree by.
    const own = await buildPackage();
    await buildWebAssets(join(own.dir, "web"));
    const cli = join(own.dir, "cli", "index.js");
    const zoo = join(root, "zoo");
    await mkdir(zoo);
    const child = execFile(process.execPath, [cli, "serve", "--port", "0", "--model-store", zoo], {
      cwd: root,
      env: { ...process.env, DATA_DIR: join(root, "data"), WARM: "none", PROVIDERS: "cpu" },
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = "";
        child.stderr?.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /listening on (\S+)/.exec(err);
          if (m?.[1]) resolve(m[1]);
        });
        child.once("exit", () => reject(new Error(`dualrs serve exited: ${err}`)));
      });
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="/web/app.js">');
      expect((await fetch(`${url}/web/app.js`)).status).toBe(200);
      const sdk = await fetch(`${url}/sdk.js`);
      expect(sdk.status).toBe(200);
      expect(await sdk.text()).toBe(await bundleSdk());
    } finally {
      child.kill("SIGTERM");
      await own.remove();
    }
  }, 180_000);
});
