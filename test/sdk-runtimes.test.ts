import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleSdk } from "../src/web/bundle.js";
import { launchChromium } from "./helpers/chromium.js";
import { type SdkServer, startSdkServer } from "./helpers/sdk-server.js";

const run = promisify(execFile);

/**
 * The same built bundle, in every runtime: it lists certifiers, runs a certification with a fixed
 * seed (so every runtime must get the very same certificate), maps a 404 to NotFoundError, and
 * verifies a Standard Webhooks signature with Web Crypto. Each runtime reports the same summary.
 */
const EXERCISE = `
export async function exercise(sdk, baseURL, signed) {
  const client = new sdk.Dualrs({ baseURL, maxRetries: 0 });
  const certifiers = (await client.certifiers.list()).map((c) => c.id).sort();
  let updates = 0;
  const certificate = await client.certify.run(
    { certifier: "dual-half", input: { type: "tensor", shape: [2], data: [0.8, 0.6] }, parameters: { seed: 7 } },
    { wait: 0, pollInterval: 20, onProgress: () => updates++ },
  );
  const notFound = await client.certifiers.get("nope").then(
    () => "no error",
    (e) => (e instanceof sdk.NotFoundError ? e.status : String(e)),
  );
  const verified = await client.webhooks.verify(signed.body, signed.headers, signed.secret).then((e) => e.type);
  const forged = await client.webhooks.verify(signed.body + " ", signed.headers, signed.secret).then(
    () => "accepted",
    (e) => (e instanceof sdk.WebhookVerificationError ? "refused" : String(e)),
  );
  return { certifiers, certificate, progressReported: updates > 0, notFound, verified, forged };
}
`;

/** A command-line runner for Deno and Bun: prints the summary as JSON. */
const RUNNER = `
import * as sdk from "./dualrs.mjs";
import { exercise } from "./exercise.mjs";
const [baseURL, signed] = (globalThis.Deno ? Deno.args : process.argv.slice(2));
console.log(JSON.stringify(await exercise(sdk, baseURL, JSON.parse(signed))));
`;

/** The same for workerd: a module worker that answers the summary. */
const WORKER = `
import * as sdk from "./dualrs.mjs";
import { exercise } from "./exercise.mjs";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const summary = await exercise(sdk, url.searchParams.get("base"), JSON.parse(url.searchParams.get("signed")));
    return Response.json(summary);
  },
};
`;

let server: SdkServer;
let dir: string;
let bundle: string;
let signed: { body: string; headers: Record<string, string>; secret: string };
let expected: Record<string, unknown>;

function sign(): typeof signed {
  const key = Buffer.from("runtime test secret of 32 bytes!");
  const body = JSON.stringify({
    type: "job.succeeded",
    timestamp: new Date().toISOString(),
    data: { id: "j" },
  });
  const id = "msg_runtime";
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return {
    body,
    headers: { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` },
    secret: `whsec_${key.toString("base64")}`,
  };
}

beforeAll(async () => {
  server = await startSdkServer();
  dir = await mkdtemp(join(tmpdir(), "dualrs-runtimes-"));
  bundle = await bundleSdk();
  await writeFile(join(dir, "dualrs.mjs"), bundle);
  await writeFile(join(dir, "exercise.mjs"), EXERCISE);
  await writeFile(join(dir, "runner.mjs"), RUNNER);
  signed = sign();
  // Node: the reference every other runtime must match.
  const sdk = await import(pathToFileURL(join(dir, "dualrs.mjs")).href);
  const { exercise } = await import(pathToFileURL(join(dir, "exercise.mjs")).href);
  expected = await exercise(sdk, server.url, signed);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the SDK bundle in every runtime", () => {
  it("works in Node", () => {
    expect(expected.certifiers).toEqual(["bright", "dual-half", "fmnist-templates", "half"]);
    expect(expected).toMatchObject({
      progressReported: true,
      notFound: 404,
      verified: "job.succeeded",
      forged: "refused",
    });
    const certificate = expected.certificate as { mode: string; seed: number; prediction: { label: string } };
    expect(certificate).toMatchObject({ mode: "dual", seed: 7, prediction: { label: "pos" } });
  });

  it("works in headless Chromium", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      // A page of the server's origin, so that the SDK's requests are same-origin.
      await page.goto(`${server.url}/web/images/index.json`);
      // A string, not a function: the test runner would rewrite a function's dynamic import().
      const args = JSON.stringify([bundle, EXERCISE, server.url, signed]);
      const summary = await page.evaluate(`(async ([code, exerciseCode, baseURL, webhook]) => {
        const load = (text) => import(URL.createObjectURL(new Blob([text], { type: "text/javascript" })));
        const sdk = await load(code);
        const { exercise } = await load(exerciseCode);
        return exercise(sdk, baseURL, webhook);
      })(${args})`);
      expect(summary).toEqual(expected);
    } finally {
      await browser.close();
    }
  });

  it("works in workerd (Miniflare)", async () => {
    const mf = new Miniflare({
      modules: [
        { type: "ESModule", path: "worker.mjs", contents: WORKER },
        { type: "ESModule", path: "dualrs.mjs", contents: bundle },
        { type: "ESModule", path: "exercise.mjs", contents: EXERCISE },
      ],
      compatibilityDate: "2025-07-01",
    });
    try {
      const query = new URLSearchParams({ base: server.url, signed: JSON.stringify(signed) });
      const res = await mf.dispatchFetch(`http://worker.local/?${query}`);
      expect(await res.json()).toEqual(expected);
    } finally {
      await mf.dispose();
    }
  });

  it("works in Deno", async () => {
    const deno = resolve("node_modules/.bin/deno");
    const { stdout } = await run(
      deno,
      [
        "run",
        "--no-config",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        "runner.mjs",
        server.url,
        JSON.stringify(signed),
      ],
      { cwd: dir, env: { ...process.env, DENO_DIR: join(dir, ".deno"), NO_COLOR: "1" } },
    );
    expect(JSON.parse(stdout)).toEqual(expected);
  });

  it("works in Bun", async () => {
    const bun = resolve("node_modules/.bin/bun");
    const { stdout } = await run(bun, ["runner.mjs", server.url, JSON.stringify(signed)], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual(expected);
  });
});
