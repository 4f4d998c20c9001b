import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJsonInput, parseNpy, parseRawFloat32 } from "../src/cli/input-file.js";
import { progressBar } from "../src/cli/progress.js";
import { loadConfig } from "../src/server/config.js";
import { startServer } from "../src/server/server.js";
import { buildPackage } from "./helpers/build.js";
import { bombPng } from "./helpers/images.js";
import { until } from "./helpers/jobs.js";
import { halfSpaceModel, linearModel } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dualrs(...args: string[]): Promise<Run> {
  return run("npx", ["tsx", "src/cli/index.ts", ...args]);
}

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: process.cwd() }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The dualrs line of stderr (npx may add warnings of its own). */
const message = (r: Run) => r.stderr.split("\n").find((l) => l.startsWith("dualrs:")) ?? r.stderr;

/** A .npy file (format 1.0) of float32 values. */
function npy(values: number[], shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  header += `${" ".repeat(63 - ((10 + header.length) % 64))}\n`;
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, ...Buffer.from("NUMPY"), 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  head.set(Buffer.from(header, "latin1"), 10);
  return Buffer.concat([head, Buffer.from(Float32Array.from(values).buffer)]);
}

let dir: string;
let manifest: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-cli-"));
  // Half-space 3 x0 + 4 x1 - 0.5 > 0 on inputs of shape [2].
  const clf = linearModel(
    [
      [0, 3],
      [0, 4],
    ],
    [0, -0.5],
    [2],
  );
  await writeCertifier(
    dir,
    {
      id: "half",
      input: { shape: [2], range: [-1, 1] },
      labels: ["neg", "pos"],
      options: [{ sigma: 0.25, chain: ["clf"] }],
    },
    { clf: { bytes: clf } },
  );
  manifest = join(dir, "half.json");
  // The same classifier at two sigmas, routed by x0 + 0.5 > 0 at sigma 0.25.
  await writeCertifier(
    dir,
    {
      id: "dual-half",
      input: { shape: [2], range: [-1, 1] },
      labels: ["neg", "pos"],
      options: [
        { sigma: 0.12, chain: ["clf"] },
        { sigma: 0.5, chain: ["clf"] },
      ],
      estimator: { sigma: 0.25, chain: ["est"] },
    },
    { clf: { bytes: clf }, est: { bytes: halfSpaceModel([1, 0], 0.5, [2]) } },
  );
  await writeFile(join(dir, "near-estimator.json"), JSON.stringify([-0.4, 0.9]));
  await writeFile(join(dir, "x.json"), JSON.stringify([0.2, 0.1]));
  await writeFile(join(dir, "x.npy"), npy([0.2, 0.1], [2]));
  await writeFile(join(dir, "x.f32"), Buffer.from(Float32Array.of(0.2, 0.1).buffer));
  await writeFile(join(dir, "far.json"), JSON.stringify({ shape: [2], data: [5, 0] }));
  await writeFile(join(dir, "shape.json"), JSON.stringify({ shape: [1, 2], data: [0.2, 0.1] }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("dualrs certify", () => {
  it("prints a certificate as JSON, the same for every input format and noise mode", async () => {
    const args = ["--manifest", manifest, "--n", "2000", "--n0", "50", "--seed", "7", "--alpha", "0.01"];
    const runs = await Promise.all([
      ...["x.json", "x.npy", "x.f32"].map((f) => dualrs("certify", ...args, "--input", join(dir, f))),
      dualrs("certify", ...args, "--input", join(dir, "x.json"), "--noise", "graph", "--batch-size", "300"),
      dualrs("certify", ...args, "--input", join(dir, "x.json"), "--batch-size", "300", "--workers", "3"),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const cert = JSON.parse(runs[0]?.stdout ?? "");
    expect(cert).toMatchObject({
      certifier: "half",
      mode: "global",
      seed: 7,
      abstained: false,
      prediction: { index: 1, label: "pos" },
    });
    expect(cert.parameters).toMatchObject({ n: 2000, n0: 50, alpha: 0.01, sigma: 0.25 });
    expect(cert.stages.classifier.counts.reduce((a: number, b: number) => a + b, 0)).toBe(2000);
    expect(cert.radius).toBeGreaterThan(0);
    expect(Object.keys(cert.models)).toEqual(["clf"]);
    // Reproducible from its seed: the other formats read the same input, graph noise is the same
    // noise, and batches spread over three threads add up to the same counts.
    expect(runs.map((r) => JSON.parse(r.stdout))).toEqual([cert, cert, cert, cert, cert]);
    // stderr is not a terminal here: no progress bar.
    expect(runs[0]?.stderr).not.toContain("[#");
  });

  it("decides a target radius with fewer draws, the same on one thread or three", async () => {
    // x is 0.1 from the boundary: certified at 0.05.
    const args = ["--manifest", manifest, "--input", join(dir, "x.json"), "--n", "20000", "--seed", "7"];
    const target = [...args, "--target-radius", "0.05", "--batch-size", "300"];
    const runs = await Promise.all([
      dualrs("certify", ...target),
      dualrs("certify", ...target, "--workers", "3"),
      dualrs("certify", ...args, "--target-radius", "0.05", "--sampling", "fixed"),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const [one, three, fixed] = runs.map((r) => JSON.parse(r.stdout));
    expect(three).toEqual(one);
    expect(one.parameters).toMatchObject({ sampling: "sequential", targetRadius: 0.05 });
    expect(one.certifiedAtTarget).toBe(true);
    expect(one.stages.classifier.n).toBeLessThan(20_000);
    expect(fixed.parameters.sampling).toBe("fixed");
    expect(fixed.stages.classifier.n).toBe(20_000);
  });

  it("certifies with --routing set past R_sigma", async () => {
    const args = ["--input", join(dir, "near-estimator.json"), "--n", "2000", "--seed", "3"];
    const r = await dualrs("certify", "--manifest", join(dir, "dual-half.json"), ...args, "--routing", "set");
    expect(r.code, r.stderr).toBe(0);
    const cert = JSON.parse(r.stdout);
    expect(cert.parameters.routing).toBe("set");
    expect(cert.routing.certified).toHaveLength(1);
    expect(cert.radius).toBeGreaterThan(cert.routing.singleRadius);
  });

  it("exits 2 with one line on stderr for bad inputs and usage", async () => {
    const cases: [string[], RegExp][] = [
      [["--input", join(dir, "far.json")], /input value 0 is 5, outside the range \[-1, 1\]/],
      [["--input", join(dir, "shape.json")], /input shape \[1, 2\] does not match/],
      [["--input", join(dir, "none.json")], /cannot read input .*none\.json: no such file/],
      [["--input", join(dir, "x.txt")], /unsupported input format/],
      [["--input", join(dir, "x.json"), "--n", "ten"], /--n: "ten" is not a number/],
      [["--input", join(dir, "x.json"), "--alpha", "2"], /--alpha: /],
      [["--input", join(dir, "x.json"), "--mode", "dual"], /has no estimator/],
      [
        ["--input", join(dir, "x.json"), "--providers", "tpu"],
        /--providers: unknown execution provider "tpu"/,
      ],
      [["--input", join(dir, "x.json"), "--frobnicate"], /Unknown option '--frobnicate'/],
      [["--input", join(dir, "x.json"), "--sampling", "adaptive"], /--sampling: /],
      [["--input", join(dir, "x.json"), "--target-radius", "0"], /targetRadius|target/],
      [["--input", join(dir, "x.json"), "--routing", "both"], /--routing: /],
      [["--input", join(dir, "x.json"), "--routing", "set"], /--routing: .*dual mode/],
    ];
    const runs = await Promise.all(cases.map(([args]) => dualrs("certify", "--manifest", manifest, ...args)));
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(message(r)).toMatch(cases[i]?.[1] ?? /./);
      expect(r.stdout).toBe("");
    });
  });

  it("exits 1 when the certifier cannot be loaded", async () => {
    const r = await dualrs(
      "certify",
      "--manifest",
      manifest,
      "--input",
      join(dir, "x.json"),
      "--providers",
      "cuda",
    );
    expect(r.code).toBe(1);
    expect(message(r)).toMatch(/"cuda" is required but not available.*ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });
});

describe("dualrs certify on images", () => {
  const image = "src/web/public/images/fmnist-test-1.png";
  const certification = ["--n", "1000", "--n0", "50", "--seed", "3", "--alpha", "0.01"];

  it("certifies a PNG as the service does, from source and from the build", async () => {
    const built = await buildPackage();
    const server = await startServer({
      config: loadConfig({
        HOST: "127.0.0.1",
        PORT: "0",
        MODEL_STORE: "models",
        DATA_DIR: join(dir, "data"),
        PROVIDERS: "cpu",
        RATE_LIMIT: "0",
        WARM: "none",
      }),
    });
    try {
      const args = [
        "certify",
        "--manifest",
        "models/fmnist-dual-experts.json",
        "--input",
        image,
        ...certification,
      ];
      const [source, build, res] = await Promise.all([
        dualrs(...args),
        // The build finds the decoder's thread module in dist/, not beside a .ts file.
        run(process.execPath, [join(built.dir, "cli/index.js"), ...args]),
        fetch(`${server.url}/certify`, {
          method: "POST",
          headers: { "content-type": "application/json", prefer: "wait=60" },
          body: JSON.stringify({
            certifier: "fmnist-dual-experts",
            input: { type: "image", data: (await readFile(image)).toString("base64") },
            parameters: { n: 1000, n0: 50, seed: 3, alpha: 0.01 },
          }),
        }),
      ]);
      expect(source.code, source.stderr).toBe(0);
      expect(build.code, build.stderr).toBe(0);
      expect(res.status).toBe(200);
      const served = ((await res.json()) as { certificate: Record<string, unknown> }).certificate;
      const [a, b] = [JSON.parse(source.stdout), JSON.parse(build.stdout)];
      // Fashion-MNIST test image 1 is a pullover.
      expect(served.prediction).toEqual({ index: 2, label: "Pullover" });
      for (const cli of [a, b]) {
        expect(cli.prediction).toEqual(served.prediction);
        expect(cli.radius).toBe(served.radius);
        expect(cli.seed).toBe(3);
        expect(cli.stages).toEqual(served.stages);
      }
    } finally {
      await server.close();
      await built.remove();
    }
  }, 300_000);

  it("exits 2 naming the file for an image over the pixel limit or for a certifier of tensors", async () => {
    await writeFile(join(dir, "bomb.png"), bombPng(30000, 30000));
    const [bomb, tensors] = await Promise.all([
      dualrs("certify", "--manifest", "models/fmnist-dual-experts.json", "--input", join(dir, "bomb.png")),
      dualrs("certify", "--manifest", manifest, "--input", image),
    ]);
    expect([bomb.code, tensors.code]).toEqual([2, 2]);
    expect(message(bomb)).toMatch(
      /bomb\.png: the image is 30000 x 30000 pixels, more than the 16 megapixels allowed/,
    );
    expect(message(tensors)).toMatch(/certifier "half" takes tensors of shape \[2\], not images/);
  });
});

describe("interrupts", () => {
  it("stops on Ctrl-C with status 130", async () => {
    // node itself, not npx, so that SIGINT reaches the CLI's own handler.
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      "--import",
      "./test/helpers/sigint-ready.mjs",
      "src/cli/index.ts",
      "certify",
      "--manifest",
      manifest,
      "--input",
      join(dir, "x.json"),
      "--n",
      "1000000000",
    ]);
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = new Promise<number | null>((resolve) => child.on("close", resolve));
    await until(() => stderr.includes("listening for SIGINT\n"), "the CLI to listen for SIGINT");
    // Then well into the certificate's draws, as a user would press it.
    await new Promise((r) => setTimeout(r, 1000));
    child.kill("SIGINT");
    expect(await code).toBe(130);
    expect(stderr).toContain("dualrs: interrupted");
  });
});

describe("progress bar", () => {
  it("draws on a terminal and clears its line", () => {
    let out = "";
    const tty = { isTTY: true, write: (s: string) => (out += s) } as unknown as NodeJS.WriteStream;
    const bar = progressBar(tty);
    bar.update({ done: 50, total: 100 });
    expect(out).toContain("50/100");
    bar.update({ done: 100, total: 100 });
    expect(out).toContain("100%");
    bar.clear();
    expect(out.endsWith("\r\x1b[K")).toBe(true);
  });

  it("writes nothing when stderr is not a terminal", () => {
    let out = "";
    const bar = progressBar({
      isTTY: false,
      write: (s: string) => (out += s),
    } as unknown as NodeJS.WriteStream);
    bar.update({ done: 1, total: 2 });
    bar.clear();
    expect(out).toBe("");
  });
});

describe("input files", () => {
  it("reads .npy float32 and float64 with their shape", () => {
    expect(parseNpy(npy([1, 2, 3, 4], [2, 2]))).toEqual({ data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] });
    const f8 = npy([0], [1]);
    const text = Buffer.from(f8).toString("latin1").replace("<f4", "<f8");
    const header = Buffer.from(text, "latin1").subarray(0, f8.length - 4);
    const parsed = parseNpy(Buffer.concat([header, Buffer.from(Float64Array.of(0.5).buffer)]));
    expect(Array.from(parsed.data)).toEqual([0.5]);
    expect(() =>
      parseNpy(Buffer.from(Buffer.from(f8).toString("latin1").replace("<f4", ">f4"), "latin1")),
    ).toThrow(/dtype ">f4" is not supported/);
  });

  it("reads raw float32 and JSON", () => {
    expect(Array.from(parseRawFloat32(new Uint8Array(Float32Array.of(1.5, -2).buffer)))).toEqual([1.5, -2]);
    expect(() => parseRawFloat32(new Uint8Array(6))).toThrow(/not a whole number/);
    expect(parseJsonInput("[[1, 2], [3, 4]]").data).toEqual(Float32Array.of(1, 2, 3, 4));
    expect(parseJsonInput('{"shape": [2], "data": [1, 2]}')).toEqual({
      data: Float32Array.of(1, 2),
      shape: [2],
    });
    expect(() => parseJsonInput('{"x": 1}')).toThrow(/expected a number array/);
  });
});
