import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, isLoopback, loadConfig } from "../src/server/config.js";
import { hashApiKey } from "../src/server/middleware/auth.js";
import { writeServerZoo } from "./helpers/server-zoo.js";

describe("server configuration", () => {
  it("defaults to the embedded setup on 127.0.0.1:8080", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      modelStore: "models",
      redisUrl: undefined,
      apiKeys: [],
      allowPrivateWebhooks: false,
      providers: "auto",
      maxDraws: 1_000_000,
    });
  });

  it("names the bad setting", () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ PORT: "http" }, /^invalid configuration: PORT \(got "http"\)/],
      [{ PORT: "70000" }, /PORT/],
      [{ API_KEYS: "secret" }, /API_KEYS.*sha256/],
      [{ PROVIDERS: "tpu" }, /PROVIDERS.*unknown execution provider "tpu"/],
      [{ ALLOW_PRIVATE_WEBHOOKS: "maybe" }, /ALLOW_PRIVATE_WEBHOOKS.*true or false/],
      [{ MAX_DRAWS: "1e3.5" }, /MAX_DRAWS/],
      [{ MAX_DRAWS: "-1" }, /MAX_DRAWS/],
      [{ REDIS_URL: "localhost:6379" }, /REDIS_URL/],
      [{ RATE_LIMIT: "-1" }, /RATE_LIMIT/],
      [{ RATE_LIMIT_WINDOW: "0.5" }, /RATE_LIMIT_WINDOW/],
      [
        { API_KEYS: `ops:${"a".repeat(64)}`, METRICS_TENANTS: "ops,opz" },
        /METRICS_TENANTS.*"opz" is no tenant/,
      ],
      [{ JOB_RETENTION: "10" }, /JOB_RETENTION/],
      [
        { API_KEYS: `ops:${"a".repeat(64)}`, TENANT_WEIGHTS: "ops:2,opz:1" },
        /TENANT_WEIGHTS.*"opz" is no tenant/,
      ],
      ...["ops", "ops:0", "ops:-1", "ops:x", "ops:1:2", "Bad Name:1"].map(
        (w) =>
          [{ TENANT_WEIGHTS: w }, /TENANT_WEIGHTS.*entry 1: expected TENANT:WEIGHT/] as [
            Record<string, string>,
            RegExp,
          ],
      ),
    ];
    for (const [env, message] of bad) expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig({ PORT: "x" })).toThrow(ConfigError);
  });

  it("refuses to listen beyond loopback without API keys", () => {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "example.com"]) {
      expect(() => loadConfig({ HOST: host })).toThrow(/API_KEYS: required to listen on/);
    }
    const key = hashApiKey("k");
    expect(loadConfig({ HOST: "0.0.0.0", API_KEYS: key.toUpperCase() }).apiKeys).toEqual([
      { hash: key, tenant: `key-${key.slice(0, 12)}` },
    ]);
    for (const host of ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]) {
      expect(isLoopback(host), host).toBe(true);
      expect(() => loadConfig({ HOST: host })).not.toThrow();
    }
  });

  it("reads API keys alone or with the tenant they act for, and names an entry of neither form", () => {
    const [a, b, c] = ["a", "b", "c"].map(hashApiKey) as [string, string, string];
    expect(loadConfig({ API_KEYS: ` team-a:${a}, Team-A:${b},${c} ` }).apiKeys).toEqual([
      { hash: a, tenant: "team-a" },
      { hash: b, tenant: "team-a" },
      { hash: c, tenant: `key-${c.slice(0, 12)}` },
    ]);
    for (const bad of [`${a},${a.slice(1)}`, `team a:${a}`, `:${a}`, `x:y:${a}`, `${"t".repeat(65)}:${a}`]) {
      expect(() => loadConfig({ API_KEYS: bad }), bad).toThrow(/API_KEYS.*entry \d: expected the sha256/);
    }
  });

  it("reads METRICS_TENANTS as tenants of API_KEYS, or * for every caller; empty by default", () => {
    const keys = `ops:${"a".repeat(64)},team-b:${"b".repeat(64)}`;
    expect(loadConfig({}).metricsTenants).toEqual([]);
    expect(loadConfig({ API_KEYS: keys, METRICS_TENANTS: " ops " }).metricsTenants).toEqual(["ops"]);
    expect(loadConfig({ API_KEYS: keys, METRICS_TENANTS: " * " }).metricsTenants).toBe("*");
    expect(() => loadConfig({ API_KEYS: keys, METRICS_TENANTS: "*,ops" })).toThrow(/METRICS_TENANTS.*"\*"/);
  });

  it("reads tenants' weights, each tenant of API_KEYS", () => {
    const keys = `team-a:${"a".repeat(64)},team-b:${"b".repeat(64)}`;
    expect(loadConfig({ API_KEYS: keys, TENANT_WEIGHTS: " team-a:4, team-b:0.5 " }).tenantWeights).toEqual({
      "team-a": 4,
      "team-b": 0.5,
    });
    expect(loadConfig({}).tenantWeights).toEqual({});
  });

  it("takes flags over the environment, and empty variables as unset", () => {
    const c = loadConfig({ PORT: "9000", MODEL_STORE: "" }, { PORT: "9001" });
    expect(c.port).toBe(9001);
    expect(c.modelStore).toBe("models");
  });
});

describe("dualrs serve", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dualrs-serve-"));
    await writeServerZoo(join(dir, "models"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("serves on a loopback port, then stops cleanly on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/index.ts", "serve", "--port", "0", "--model-store", join(dir, "models")],
      {
        env: { ...process.env, DATA_DIR: join(dir, "data"), PROVIDERS: "cpu" },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m?.[1]) resolve(m[1]);
      });
      child.once("exit", () => reject(new Error(`exited early: ${stderr}`)));
    });
    const res = await fetch(`${url}/certify`, {
      method: "POST",
      headers: { "content-type": "application/json", prefer: "wait=30" },
      body: JSON.stringify({ certifier: "half", input: { type: "tensor", shape: [2], data: [0.2, 0.1] } }),
    });
    expect(res.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("exits with status 2 and the setting's name when the configuration is bad", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/index.ts", "serve", "--host", "0.0.0.0"],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/API_KEYS: required to listen on 0\.0\.0\.0/);
  });
});
