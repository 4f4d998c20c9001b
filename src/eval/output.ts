import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runMarkdown } from "./markdown.js";
import { renderPng } from "./png.js";
import type { EvalRow } from "./row.js";
import type { EvalSummary } from "./summary.js";
import { accuracyPlot } from "./svg.js";
import { tsvHeader, tsvLine } from "./tsv.js";

/** The files of one run in its folder. */
export const FILES = {
  rows: "certify.tsv",
  summary: "summary.json",
  table: "table.md",
  svg: "certified-accuracy.svg",
  png: "certified-accuracy.png",
} as const;

export interface TsvWriter {
  write(row: EvalRow): Promise<void>;
  close(): Promise<void>;
}

/** Appends rows to a TSV as they come, so that a long run's rows survive an interruption. */
export async function tsvWriter(
  path: string,
  mode: "dual" | "global",
  routing: "single" | "set" = "single",
): Promise<TsvWriter> {
  const stream = createWriteStream(path);
  const put = async (text: string) => {
    if (!stream.write(text)) await once(stream, "drain");
  };
  await put(tsvHeader(mode, routing));
  return {
    write: (row) => put(tsvLine(row)),
    close: () =>
      new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve()))),
  };
}

/** summary.json, table.md and the plot (SVG and PNG) of a finished run. */
export async function writeRunReport(dir: string, summary: EvalSummary): Promise<void> {
  await mkdir(dir, { recursive: true });
  const svg = accuracyPlot([{ label: summary.label, points: summary.certifiedAccuracy }], {
    title: `Certified accuracy: ${summary.label}`,
  });
  await Promise.all([
    writeFile(join(dir, FILES.summary), `${JSON.stringify(summary, null, 2)}\n`),
    writeFile(join(dir, FILES.table), runMarkdown(summary)),
    writeFile(join(dir, FILES.svg), svg),
    renderPng(svg).then((png) => writeFile(join(dir, FILES.png), png)),
  ]);
}
