import { existsSync } from "node:fs";
import { defineConfig } from "tsup";

// One entry point per public subpath of the package (see "exports" in package.json).
const entries = {
  "core/index": "src/core/index.ts",
  "runtime/index": "src/runtime/index.ts",
  "server/index": "src/server/index.ts",
  "sdk/index": "src/sdk/index.ts",
  "cli/index": "src/cli/index.ts",
  // Not a subpath: the module of the certification threads, which ThreadPool starts by file.
  "runtime/threads/thread": "src/runtime/threads/thread.ts",
  // Not a subpath either: the image decoder's thread, which ImageDecoder starts by file.
  "runtime/image/worker": "src/runtime/image/worker.ts",
  // And the host noise's thread, which NoiseMaker starts by file.
  "runtime/noise/worker": "src/runtime/noise/worker.ts",
};

export default defineConfig({
  entry: Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file))),
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
});
