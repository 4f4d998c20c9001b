import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// No Docker engine here: the Dockerfile's invariants are checked on its text, and the two scripts
// the image runs (entrypoint, health check) are run for real.

interface Stage {
  name: string;
  base: string;
  lines: string[];
}

/** The stages of the Dockerfile, each with its instructions (continuation lines joined). */
function stages(text: string): Stage[] {
  const instructions = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const result: Stage[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) result.push({ base: from[1] ?? "", name: from[2] ?? "", lines: [] });
    else result.at(-1)?.lines.push(line);
  }
  return result;
}

const dockerfile = readFileSync("Dockerfile", "utf8");
const all = stages(dockerfile);
const byName = new Map(all.map((s) => [s.name, s]));
const stage = (name: string): Stage => {
  const s = byName.get(name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
/** The chain of stages from `name` down to its external base image. */
const ancestry = (name: string): Stage[] => {
  const chain = [stage(name)];
  for (let s = chain[0]; s && byName.has(s.base); ) {
    s = byName.get(s.base);
    if (s) chain.push(s);
  }
  return chain;
};
const instruction = (s: Stage, keyword: string) =>
  s.lines.filter((l) => l.toUpperCase().startsWith(`${keyword} `));

describe("Dockerfile", () => {
  it("pins every external base image by tag and digest", () => {
    const external = all.filter((s) => !byName.has(s.base) || s.base === s.name);
    expect(external.length).toBeGreaterThanOrEqual(2);
    for (const s of external) {
      expect(s.base).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
      expect(s.base).not.toMatch(/:latest@/);
    }
  });

  it("has a CPU target and a GPU target, the GPU one the default (last)", () => {
    expect(all.at(-1)?.name).toBe("gpu");
    expect(byName.has("cpu")).toBe(true);
    // GPU: the CUDA 12 runtime with cuDNN, which onnxruntime-node 1.30's CUDA provider needs.
    expect(ancestry("gpu").at(-1)?.base).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
    expect(ancestry("cpu").at(-1)?.base).toMatch(/^node:22/);
  });

  it("installs the CUDA execution provider at build time into the GPU target only", () => {
    const install = "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install";
    const installing = all.filter((s) => s.lines.some((l) => l.startsWith("RUN ") && l.includes(install)));
    expect(installing.map((s) => s.name)).toEqual(["deps-gpu"]);
    const modulesFrom = (s: Stage) =>
      instruction(s, "COPY")
        .filter((l) => l.includes("/app/node_modules"))
        .map((l) => /--from=(\S+)/.exec(l)?.[1]);
    expect(modulesFrom(stage("gpu"))).toEqual(["deps-gpu"]);
    expect(modulesFrom(stage("cpu"))).toEqual(["deps"]);
    // The install script is where onnxruntime-node ships it.
    expect(existsSync("node_modules/onnxruntime-node/script/install.js")).toBe(true);
  });

  it("builds with npm ci and tsup", () => {
    const build = stage("build");
    expect(build.lines).toContain("RUN npm ci --no-audit --no-fund");
    expect(build.lines).toContain("RUN npm run build");
    expect(JSON.parse(readFileSync("package.json", "utf8")).scripts.build).toMatch(/^tsup\b/);
    expect(stage("deps").lines.some((l) => /^RUN npm ci .*--omit=dev/.test(l))).toBe(true);
  });

  it("lets in what the build stage copies, the plot that the web page's build puts in dist/web among it", () => {
    const sources = instruction(stage("build"), "COPY")
      .filter((l) => !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources).toContain("docs/results/certified-accuracy.png");
    for (const source of sources) expect(dockerignoreAllows(source), source).toBe(true);
  });

  for (const target of ["cpu", "gpu"]) {
    it(`${target} target: non-root user, health check, signals forwarded, one image for serve and worker`, () => {
      const s = stage(target);
      const user = instruction(s, "USER").at(-1)?.split(/\s+/)[1] ?? "";
      expect(user).not.toBe("");
      expect(user.split(":")[0]).not.toMatch(/^(0|root)$/);
      expect(instruction(s, "HEALTHCHECK")).toEqual([
        expect.stringContaining('CMD ["node", "/app/healthcheck.mjs"]'),
      ]);
      expect(instruction(s, "ENTRYPOINT")).toEqual([
        'ENTRYPOINT ["/usr/bin/tini", "--", "dualrs-entrypoint"]',
      ]);
      expect(instruction(s, "CMD")).toEqual(['CMD ["serve"]']);
      // What the runtime copies from the build context is allowed in by .dockerignore.
      for (const line of instruction(s, "COPY").filter((l) => !l.includes("--from="))) {
        for (const source of line.split(/\s+/).slice(1, -1))
          expect(dockerignoreAllows(source), source).toBe(true);
      }
    });
  }
});

/** .dockerignore starts from nothing (`*`) and lets in named paths. */
function dockerignoreAllows(path: string): boolean {
  const rules = readFileSync(".dockerignore", "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  expect(rules[0]).toBe("*");
  return rules.some(
    (r) => r.startsWith("!") && (path === r.slice(1).replace(/\/$/, "") || path.startsWith(r.slice(1))),
  );
}

describe("the image's entrypoint", () => {
  let bin: string;

  beforeAll(async () => {
    // A stand-in for node that reports what dualrs would be started with.
    bin = await mkdtemp(join(tmpdir(), "dualrs-entrypoint-"));
    await writeFile(
      join(bin, "node"),
      '#!/bin/sh\nprintf "%s\\n" "args=$*" "REDIS_URL=$REDIS_URL" "REDIS_PASSWORD in env: $(env | grep -c ^REDIS_PASSWORD=)"\n',
    );
    await chmod(join(bin, "node"), 0o755);
  });

  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });

  const run = (env: Record<string, string>, ...args: string[]) =>
    new Promise<string>((done, fail) => {
      execFile(
        "sh",
        [resolve("infra/docker/entrypoint.sh"), ...args],
        { env: { PATH: `${bin}:/usr/bin:/bin`, ...env } },
        (error, stdout) => (error ? fail(error) : done(stdout)),
      );
    });

  it("composes REDIS_URL from the queue's host, port and AUTH token, and hides the token", async () => {
    const out = await run(
      { REDIS_HOST: "queue.example", REDIS_PORT: "6380", REDIS_PASSWORD: "s3cret" },
      "worker",
    );
    expect(out.split("\n")).toEqual([
      "args=/app/dist/cli/index.js worker",
      "REDIS_URL=rediss://:s3cret@queue.example:6380",
      "REDIS_PASSWORD in env: 0",
      "",
    ]);
  });

  it("keeps a REDIS_URL given whole, and sets none without a queue", async () => {
    expect(await run({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_HOST: "other" }, "serve")).toContain(
      "REDIS_URL=redis://127.0.0.1:6379\n",
    );
    expect(await run({}, "serve")).toContain("REDIS_URL=\n");
  });
});

describe("the image's health check", () => {
  let server: Server;
  let status = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === "/healthz" ? status : 404;
      res.end();
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  });

  afterAll(async () => {
    // Closed by the test already, unless it failed early.
    await new Promise((done) => server.close(done));
  });

  const check = (port: number) =>
    new Promise<number>((done) => {
      execFile(process.execPath, ["infra/docker/healthcheck.mjs"], { env: { PORT: String(port) } }, (error) =>
        done(error ? Number(error.code ?? 1) : 0),
      );
    });

  it("passes while /healthz answers 200, and fails otherwise", async () => {
    const { port } = server.address() as AddressInfo;
    status = 200;
    expect(await check(port)).toBe(0);
    status = 503;
    expect(await check(port)).toBe(1);
    await new Promise((done) => server.close(done));
    expect(await check(port)).toBe(1);
  });
});
