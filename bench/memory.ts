/**
 * Peak memory of one certification, in a process of its own so that nothing else inflates it.
 * Usage: tsx bench/memory.ts <zoo dir> <certifier id> <n> <noise>; prints JSON on stdout.
 */
import { certifyInput } from "../src/core/index.js";
import { loadCertifier, localModelStore } from "../src/runtime/index.js";

const [dir = "models", id = "", n = "10000", noise = "graph"] = process.argv.slice(2);
const certifier = await loadCertifier(localModelStore(dir), id, {
  providers: ["cpu"],
  noise: noise as "graph" | "host",
});
const size = certifier.manifest.input.shape.reduce((a, b) => a * b, 1);
const x = new Float32Array(size).fill(0.5);
const before = process.resourceUsage().maxRSS;
const start = performance.now();
await certifyInput(certifier, x, { mode: "global", n0: 100, n: Number(n), seed: 1 });
const seconds = (performance.now() - start) / 1000;
await certifier.close();
process.stdout.write(
  `${JSON.stringify({ n: Number(n), peakRssMiB: process.resourceUsage().maxRSS / 1024, loadedRssMiB: before / 1024, seconds })}\n`,
);
