import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { bundleSdk, SDK_GZIP_BUDGET } from "../src/web/bundle.js";

describe("the SDK's browser bundle", () => {
  it("is one self-contained module under its gzip budget", async () => {
    const code = await bundleSdk();
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`SDK bundle: ${code.length} bytes minified, ${gzipped} gzipped`);
    expect(gzipped).toBeLessThan(SDK_GZIP_BUDGET);
    // No runtime dependency and no Node built-in: nothing left to import.
    expect(code).not.toMatch(/\bimport\s*[\s{*"'(]|\brequire\(|node:/);
    expect(code).toMatch(/export\s*\{/);
  });
});
