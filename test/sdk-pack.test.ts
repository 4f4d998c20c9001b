import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Certificate } from "../src/sdk/types.js";
import { type SdkServer, startSdkServer } from "./helpers/sdk-server.js";

const run = promisify(execFile);

let dir: string;
let server: SdkServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-sdk-pack-test-"));
  server = await startSdkServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("dualrs/sdk as an installed package", () => {
  it("the full package ships the SDK's build", async () => {
    expect(existsSync("dist/sdk/index.js"), "the suite runs after npm run build").toBe(true);
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json"]);
    const [{ files }] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(["package.json", "dist/sdk/index.js", "dist/sdk/index.d.ts"]),
    );
  }, 60_000);

  it("npm run sdk:pack makes a tarball that installs offline, with no dependency, and certifies", async () => {
    await run("npm", ["run", "sdk:pack", "--", join(dir, "packed")]);
    const tarball = join(dir, "packed", "dualrs-sdk-0.1.0.tgz");
    expect(existsSync(tarball)).toBe(true);

    // A project of its own elsewhere, as an app would install the client.
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(
      join(app, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }),
    );
    await run("npm", ["install", tarball, "--no-audit", "--no-fund", "--ignore-scripts", "--offline"], {
      cwd: app,
    });
    const installed = JSON.parse(await readFile(join(app, "node_modules/dualrs/package.json"), "utf8"));
    expect(installed.dependencies ?? {}).toEqual({});
    expect(Object.keys(installed.exports)).toEqual(["./sdk"]);

    await writeFile(
      join(app, "certify.mjs"),
      `import { Dualrs } from "dualrs/sdk";
const dualrs = new Dualrs({ baseURL: process.argv[2] });
const certificate = await dualrs.certify.run({
  certifier: "dual-half",
  input: { type: "tensor", shape: [2], data: [0.8, 0.6] },
  parameters: { seed: 7 },
});
console.log(JSON.stringify(certificate));
`,
    );
    const { stdout } = await run("node", ["certify.mjs", server.url], { cwd: app });
    const certificate = JSON.parse(stdout) as Certificate;
    expect(certificate.prediction?.label).toBe("pos");
    expect(certificate.radius).toBeGreaterThan(0);
    expect(certificate.seed).toBe(7);
    expect(certificate.stages.estimator?.radius).toBeGreaterThan(0);
  }, 120_000);
});
