/**
 * Several `dualrs evaluate` runs on the same images side by side: one certified accuracy table and
 * one plot, with the per-input oracle over the global runs (what docs/results.md shows for the zoo,
 * for any certifier).
 *
 *   npx tsx bench/compare.ts --out DIR [--title TEXT] [--no-oracle] RUN ...
 *
 * RUN is an evaluate --out folder or its summary.json. Writes DIR/table.md and
 * DIR/certified-accuracy.svg and .png, and prints the table.
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { combineSummaries } from "../src/eval/combine.js";
import { renderPng } from "../src/eval/png.js";

const { values, positionals } = parseArgs({
  options: { out: { type: "string" }, title: { type: "string" }, "no-oracle": { type: "boolean" } },
  allowPositionals: true,
});
if (!values.out || positionals.length === 0) {
  process.stderr.write("usage: npx tsx bench/compare.ts --out DIR [--title TEXT] [--no-oracle] RUN ...\n");
  process.exit(2);
}
const summaries = await Promise.all(
  positionals.map(async (p) => ((await stat(p)).isDirectory() ? join(p, "summary.json") : p)),
);
const combined = await combineSummaries(summaries, {
  oracle: !values["no-oracle"],
  title: values.title ?? "Certified accuracy",
});
await mkdir(values.out, { recursive: true });
await Promise.all([
  writeFile(join(values.out, "table.md"), combined.markdown),
  writeFile(join(values.out, "certified-accuracy.svg"), combined.svg),
  renderPng(combined.svg).then((png) => writeFile(join(values.out as string, "certified-accuracy.png"), png)),
]);
process.stdout.write(combined.markdown);
