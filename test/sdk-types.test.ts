import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("the SDK's generated types", () => {
  it("match openapi/openapi.json (npm run sdk:types regenerates them)", async () => {
    const { stdout } = await run(
      "sh",
      [
        "-c",
        "node_modules/.bin/openapi-typescript openapi/openapi.json | node_modules/.bin/biome format --stdin-file-path=src/sdk/openapi.d.ts",
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const committed = await readFile("src/sdk/openapi.d.ts", "utf8");
    expect(stdout.length).toBeGreaterThan(1000);
    expect(committed === stdout, "src/sdk/openapi.d.ts is stale: run npm run sdk:types").toBe(true);
  });
});
