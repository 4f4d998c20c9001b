import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEvaluateArgs, runEvaluate } from "../src/cli/evaluate.js";
import {
  accuracyPlot,
  certifiedAccuracy,
  combineRuns,
  combineSummaries,
  DatasetError,
  DEFAULT_DATA_DIR,
  type EvalRow,
  type EvalRun,
  encodeIdxUint8,
  evalIndices,
  evaluate,
  FILES,
  loadFashionMnist,
  oracleRows,
  parseIdx,
  parseTsv,
  RADII,
  readIdx,
  renderPng,
  seedOf,
  summarize,
  tsvHeader,
  tsvLine,
  tsvWriter,
  writeRunReport,
} from "../src/eval/index.js";
import { loadCertifier } from "../src/runtime/certifier.js";
import { localModelStore } from "../src/runtime/model-store.js";
import { randomLinearModel } from "./helpers/onnx-builder.js";
import { writeCertifier } from "./helpers/zoo.js";

let dir: string;
let tinyData: string;

/** Three 28 x 28 images of a constant grey (10, 128, 255) and their labels (3, 1, 4). */
async function writeTinyFashionMnist(into: string, gzip: boolean): Promise<void> {
  const pixels = [10, 128, 255].flatMap((v) => Array<number>(28 * 28).fill(v));
  const images = encodeIdxUint8([3, 28, 28], pixels);
  const labels = encodeIdxUint8([3], [3, 1, 4]);
  const suffix = gzip ? ".gz" : "";
  await writeFile(join(into, `t10k-images-idx3-ubyte${suffix}`), gzip ? gzipSync(images) : images);
  await writeFile(join(into, `t10k-labels-idx1-ubyte${suffix}`), gzip ? gzipSync(labels) : labels);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dualrs-eval-"));
  tinyData = await mkdtemp(join(tmpdir(), "dualrs-eval-data-"));
  await writeTinyFashionMnist(tinyData, true);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(tinyData, { recursive: true, force: true });
});

describe("IDX files", () => {
  it("parses IDX bytes, gzipped or plain", async () => {
    const bytes = encodeIdxUint8([2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    await writeFile(join(dir, "a.idx"), bytes);
    await writeFile(join(dir, "a.idx.gz"), gzipSync(bytes));
    for (const file of ["a.idx", "a.idx.gz"]) {
      const { dims, data } = await readIdx(join(dir, file));
      expect(dims).toEqual([2, 2, 3]);
      expect(data).toBeInstanceOf(Uint8Array);
      expect(Array.from(data)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    }
    // Big-endian int32, as the format says.
    const ints = Uint8Array.of(0, 0, 0x0c, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe);
    expect(Array.from(parseIdx(ints).data)).toEqual([256, -2]);
    expect(() => parseIdx(bytes.subarray(0, bytes.length - 1))).toThrow(
      /need 12 data bytes; the file has 11/,
    );
    expect(() => parseIdx(Uint8Array.of(1, 2, 3, 4))).toThrow(/not an IDX file/);
  });

  it("reads Fashion-MNIST images in [0, 1] with shape [1, 28, 28], gzipped or plain", async () => {
    const plain = await mkdtemp(join(dir, "plain-"));
    await writeTinyFashionMnist(plain, false);
    for (const d of [tinyData, plain]) {
      const ds = await loadFashionMnist(d, "test");
      expect(ds.size).toBe(3);
      expect(ds.shape).toEqual([1, 28, 28]);
      expect(ds.image(1)).toHaveLength(784);
      expect(ds.image(1)[0]).toBeCloseTo(128 / 255, 6);
      expect(ds.image(2)[783]).toBe(1);
      expect([0, 1, 2].map((i) => ds.label(i))).toEqual([3, 1, 4]);
    }
  });

  it("says where the data comes from when it is missing", async () => {
    const err = await loadFashionMnist(join(dir, "nowhere")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/no t10k-images-idx3-ubyte\(\.gz\) in .*dataset-fashion-mnist/);
  });
});

const row = (p: Partial<EvalRow>): EvalRow => ({
  idx: 0,
  label: 1,
  predict: 1,
  radius: 0,
  correct: true,
  time: 0.5,
  ...p,
});

describe("certified accuracy", () => {
  it("counts correct inputs at 0 and correct inputs whose radius exceeds r beyond", () => {
    const rows = [
      row({ radius: 0 }), // correct with radius 0 (a fallback): counts at 0 only
      row({ predict: -1, correct: false }), // abstained: never
      row({ radius: 0.5 }), // exactly on a grid point: not at 0.5 itself
      row({ predict: 2, correct: false, radius: 3 }), // wrong, however large its radius
      row({ radius: 2.1 }), // beyond the grid: everywhere
    ];
    const table = certifiedAccuracy(rows);
    expect(table.map((p) => p.radius)).toEqual(RADII);
    expect(table.map((p) => p.certified)).toEqual([3, 2, 1, 1, 1, 1, 1, 1, 1]);
    expect(table[0]?.accuracy).toBeCloseTo(0.6, 12);
    expect(certifiedAccuracy([])[0]).toEqual({ radius: 0, certified: 0, accuracy: 0 });
  });

  it("writes and reads Cohen-style TSV rows", () => {
    const rows = [
      row({
        idx: 4,
        radius: 0.123456789,
        dual: { sigma: 0.25, rSigma: 0.7, rC: 0.123456789, fallback: false },
      }),
      row({ idx: 6, predict: -1, correct: false, dual: { sigma: null, rSigma: 0, rC: 0, fallback: false } }),
      row({ idx: 8, dual: { sigma: 0.5, rSigma: 0, rC: 0.4, fallback: true } }),
    ];
    const text = tsvHeader("dual") + rows.map(tsvLine).join("");
    expect(text.split("\n")[0]).toBe(
      "idx\tlabel\tpredict\tradius\tcorrect\ttime\tsigma\tr_sigma\tr_c\tfallback",
    );
    expect(text.split("\n")[2]).toBe("6\t1\t-1\t0\t0\t0.500\tnan\t0\t0\t0");
    expect(parseTsv(text)).toEqual(rows);
    expect(tsvHeader("global")).toBe("idx\tlabel\tpredict\tradius\tcorrect\ttime\n");
  });

  it("picks images 0, skip, 2 skip, ... and one seed per image", () => {
    expect(evalIndices(10, 3, 4)).toEqual([0, 4, 8]);
    expect(evalIndices(10, 5, 4)).toEqual([0, 4, 8]);
    expect(seedOf(7, 20)).toBe(27);
    expect(seedOf(Number.MAX_SAFE_INTEGER, 1)).toBe(0);
  });
});

/** The tags of an SVG, balanced: a minimal well-formedness check. */
function checkTags(svg: string): string[] {
  const stack: string[] = [];
  const opened: string[] = [];
  for (const [, close, name, selfClose] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (close) expect(stack.pop()).toBe(name);
    else if (!selfClose) stack.push(name ?? "");
    if (!close) opened.push(name ?? "");
  }
  expect(stack).toEqual([]);
  return opened;
}

describe("plots", () => {
  const curves = [
    { label: "dual <experts>", points: certifiedAccuracy([row({ radius: 1 }), row({ radius: 0.3 })]) },
    { label: "σ = 0.25", points: certifiedAccuracy([row({ radius: 0.6 })]), dashed: true },
  ];

  it("draws one polyline per curve, axes, ticks and a legend", () => {
    const svg = accuracyPlot(curves, { title: "Fashion-MNIST" });
    const tags = checkTags(svg);
    expect(tags[0]).toBe("svg");
    expect(tags.filter((t) => t === "polyline")).toHaveLength(2);
    expect(svg).toContain('data-label="dual &#60;experts&#62;"');
    expect(svg).toContain(">σ = 0.25</text>");
    expect(svg).toContain(">L2 radius</text>");
    expect(svg).toContain(">certified accuracy</text>");
    expect(svg).toContain(">2.00</text>");
    expect(svg).toContain('stroke-dasharray="6 4"');
  });

  it("puts the legend below the axes, where it hides no curve, wrapping entries that do not fit", () => {
    const long = Array.from({ length: 5 }, (_, i) => ({
      label: `fmnist-expert-${i} (global, σ = 0.${i}${i})`,
      points: certifiedAccuracy([row({ radius: i / 4 })]),
    }));
    for (const [lines, rows] of [
      [curves, 1],
      [long, 3],
    ] as const) {
      const svg = accuracyPlot(lines);
      const legend = svg.slice(svg.indexOf('<g class="legend">'));
      const ys = [...legend.matchAll(/<text x="[\d.]+" y="([\d.]+)"/g)].map((m) => Number(m[1]));
      expect(ys).toHaveLength(lines.length);
      // Below the x axis' title (at 420 - 10), inside the figure, which grows to hold it.
      expect(Math.min(...ys)).toBeGreaterThan(420);
      const height = Number(svg.match(/<svg [^>]*height="([\d.]+)"/)?.[1]);
      expect(Math.max(...ys)).toBeLessThan(height);
      expect(new Set(ys).size).toBe(rows);
    }
  });

  it("renders the SVG to a PNG", async () => {
    const png = await renderPng(accuracyPlot(curves), { scale: 1 });
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const view = new DataView(png.buffer, png.byteOffset);
    // 420 high and a row of legend below.
    expect([view.getUint32(16), view.getUint32(20)]).toEqual([640, 442]);
    expect(png.length).toBeGreaterThan(1000);
  });
});

describe("evaluate", () => {
  // Real images where Debian's dataset-fashion-mnist is installed, else the tiny IDX files.
  const data = existsSync(join(DEFAULT_DATA_DIR, "t10k-labels-idx1-ubyte.gz")) ? DEFAULT_DATA_DIR : "";
  let zoo: string;

  beforeAll(async () => {
    zoo = join(dir, "zoo");
    const shape = [1, 28, 28];
    await writeCertifier(
      zoo,
      {
        id: "linear",
        input: { shape, range: [0, 1] },
        labels: Array.from({ length: 10 }, (_, i) => `c${i}`),
        options: [
          { sigma: 0.25, chain: ["clf"] },
          { sigma: 0.5, chain: ["clf"] },
        ],
        estimator: { sigma: 0.25, chain: ["est"] },
        defaults: { n0: 20, n: 200, batchSize: 200 },
      },
      { clf: { bytes: randomLinearModel(shape, 10, 1) }, est: { bytes: randomLinearModel(shape, 2, 2) } },
    );
  });

  it("certifies images with a stride, streams rows, and combines runs with the oracle", async () => {
    const dataset = await loadFashionMnist(data || tinyData);
    const certifier = await loadCertifier(localModelStore(zoo), "linear", { threads: 1 });
    const runs: EvalRun[] = [];
    try {
      for (const parameters of [
        { mode: "global", sigma: 0.25 },
        { mode: "global", sigma: 0.5 },
        { mode: "dual" },
      ] as const) {
        const out = join(dir, `run-${parameters.mode}-${runs.length}`);
        await mkdir(out);
        const writer = await tsvWriter(join(out, FILES.rows), parameters.mode);
        const rows: EvalRow[] = [];
        const progress: number[] = [];
        const result = await evaluate(
          certifier,
          dataset,
          { count: 3, skip: 2, parameters: { ...parameters, seed: 5 } },
          {
            onRow: async (r) => {
              rows.push(r);
              await writer.write(r);
            },
            onProgress: (p) => progress.push(p.images / p.total),
          },
        );
        await writer.close();
        expect(rows.map((r) => r.idx)).toEqual([0, 2, 4].filter((i) => i < dataset.size));
        expect(rows.map((r) => r.label)).toEqual(rows.map((r) => dataset.label(r.idx)));
        expect(progress.at(-1)).toBe(1);
        expect(result.parameters).toMatchObject({ n0: 20, n: 200, seed: 5, mode: parameters.mode });
        expect(result.table).toEqual(certifiedAccuracy(rows));
        const perStage = 220 * rows.length;
        // Both stages, but only the estimator's when it abstained without a fallback.
        const estimatorOnly = rows.filter((r) => r.dual?.sigma === null).length;
        expect(result.draws).toBe(
          parameters.mode === "global" ? perStage : 2 * perStage - 220 * estimatorOnly,
        );
        for (const r of rows) {
          expect(r.correct).toBe(r.predict === r.label);
          if (r.predict < 0) expect(r.radius).toBe(0);
          if (r.dual) expect(r.radius).toBeLessThanOrEqual(Math.min(r.dual.rSigma, r.dual.rC) + 1e-12);
        }
        const text = await readFile(join(out, FILES.rows), "utf8");
        const lines = text.trim().split("\n");
        expect(lines).toHaveLength(rows.length + 1);
        expect(lines[0]?.split("\t")).toHaveLength(parameters.mode === "dual" ? 10 : 6);
        expect(parseTsv(text)).toEqual(rows.map((r) => ({ ...r, time: Number(r.time.toFixed(3)) })));
        const summary = summarize({ certifier, dataset, result, noiseMode: "host", rows: FILES.rows });
        expect(summary.inputs).toEqual({ first: 0, stride: 2, count: rows.length });
        expect(Object.keys(summary.models).sort()).toEqual(["clf", "est"]);
        await writeRunReport(out, summary);
        runs.push({ summary, rows });
      }
    } finally {
      await certifier.close();
    }

    const [a, b] = runs;
    const oracle = oracleRows([a?.rows ?? [], b?.rows ?? []]);
    for (const [i, o] of oracle.entries()) {
      const candidates = [a?.rows[i], b?.rows[i]].filter((r) => r?.correct);
      expect(o.correct).toBe(candidates.length > 0);
      expect(o.radius).toBe(Math.max(0, ...candidates.map((r) => r?.radius ?? 0)));
    }
    const combined = await combineSummaries(
      runs.map((_, i) => join(dir, `run-${runs[i]?.summary.mode}-${i}`, FILES.summary)),
    );
    expect(combined.lines.map((l) => l.label)).toEqual([
      "linear (global, σ = 0.25)",
      "linear (global, σ = 0.5)",
      "linear (dual)",
      "oracle (best of σ = 0.25, 0.5)",
    ]);
    expect(combined.lines[3]?.table).toEqual(certifiedAccuracy(oracle));
    expect(combined.markdown.trim().split("\n")).toHaveLength(6);
    expect(checkTags(combined.svg).filter((t) => t === "polyline")).toHaveLength(4);
    expect(combineRuns(runs, { oracle: false }).lines).toHaveLength(3);
  });

  it("resumes a stopped run where it stopped, under the same settings only", async () => {
    const out = join(dir, "resume-out");
    const argv = ["--manifest", join(zoo, "linear.json"), "--count", "3", "--data", tinyData, "--out", out];
    const evaluateRun = (...extra: string[]) =>
      runEvaluate(parseEvaluateArgs([...argv, "--threads", "1", ...extra]), new AbortController().signal);
    const full = (await evaluateRun("--seed", "4")).summary;
    const text = await readFile(join(out, FILES.rows), "utf8");
    const [head, first] = text.split("\n");
    // Stopped after the first image, mid-way through writing the second's line; its time marks it.
    const marked = `${first?.split("\t").with(5, "99.000").join("\t")}`;
    await writeFile(join(out, FILES.rows), `${head}\n${marked}\n1\t1\t`);
    await rm(join(out, FILES.summary));
    // No --seed: the run's own.
    const resumed = (await evaluateRun("--resume")).summary;
    expect(resumed).toMatchObject({
      seed: 4,
      certifiedAccuracy: full.certifiedAccuracy,
      totalDraws: full.totalDraws,
      inputs: full.inputs,
    });
    const rows = parseTsv(await readFile(join(out, FILES.rows), "utf8"));
    expect(rows.map((r) => r.idx)).toEqual([0, 1, 2]);
    expect(rows[0]?.time).toBe(99);
    expect(rows.map(({ time: _, ...r }) => r)).toEqual(parseTsv(text).map(({ time: _, ...r }) => r));
    await expect(evaluateRun("--resume", "--n", "100")).rejects.toThrow(
      /--resume: the run in .*resume-out has another parameters; leave out --resume/,
    );
    // A run written before sequential sampling existed has none in its settings: it resumes as fixed n.
    const settings = JSON.parse(await readFile(join(out, "run.json"), "utf8"));
    const { sampling: _, targetRadius: __, ...before } = settings.parameters;
    await writeFile(join(out, "run.json"), JSON.stringify({ ...settings, parameters: before }));
    await writeFile(join(out, FILES.rows), `${head}\n${first}\n`);
    expect((await evaluateRun("--resume")).summary.certifiedAccuracy).toEqual(full.certifiedAccuracy);
    await expect(evaluateRun("--resume", "--sampling", "sequential")).rejects.toThrow(/another parameters/);
    // On two certification threads: the same rows, and the same run settings, so it could resume.
    const spread = join(dir, "resume-workers");
    const args = [...argv.slice(0, -1), spread, "--seed", "4", "--workers", "2", "--batch-size", "200"];
    const two = (await runEvaluate(parseEvaluateArgs(args), new AbortController().signal)).summary;
    expect(two.certifiedAccuracy).toEqual(full.certifiedAccuracy);
    const twoRows = parseTsv(await readFile(join(spread, FILES.rows), "utf8"));
    expect(twoRows.map(({ time: _, ...r }) => r)).toEqual(parseTsv(text).map(({ time: _, ...r }) => r));
  });

  it("runs as dualrs evaluate and writes the run's files", async () => {
    const out = join(dir, "cli-out");
    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile("npx", ["tsx", "src/cli/index.ts", "evaluate", ...args], (error, stdout, stderr) => {
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
        });
      });
    const manifest = join(zoo, "linear.json");
    const [ok, missing, bad] = await Promise.all([
      run(
        "--manifest",
        manifest,
        "--count",
        "2",
        "--skip",
        "2",
        "--data",
        tinyData,
        "--out",
        out,
        "--seed",
        "1",
        "--threads",
        "1",
      ),
      run("--manifest", manifest, "--data", join(dir, "nowhere")),
      run("--manifest", manifest, "--data", tinyData, "--mode", "global"),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("| linear (dual) |");
    expect(ok.stdout).toContain("0, 2 (stride 2)");
    const summary = JSON.parse(await readFile(join(out, FILES.summary), "utf8"));
    expect(summary).toMatchObject({ mode: "dual", seed: 1, inputs: { stride: 2, count: 2 } });
    for (const file of Object.values(FILES)) expect(existsSync(join(out, file))).toBe(true);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/dualrs: no t10k-images-idx3-ubyte\(\.gz\) in .*dataset-fashion-mnist/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/dualrs: --sigma: global mode needs a sigma/);
  });
});
