/**
 * npm run wasm: compiles wasm/gaussian.ts (AssemblyScript) and writes the module, base64, to
 * src/runtime/noise/gaussian-wasm.ts, so that the runtime loads it from any bundle without a file
 * beside it. test/wasm-noise.test.ts fails when the written module is stale.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

export const WASM_SOURCE = fileURLToPath(new URL("../wasm/gaussian.ts", import.meta.url));
export const WASM_MODULE = fileURLToPath(new URL("../src/runtime/noise/gaussian-wasm.ts", import.meta.url));

/** The compiled module's bytes. */
export async function compileGaussian(): Promise<Uint8Array> {
  let binary: Uint8Array | undefined;
  const errors: string[] = [];
  const { error } = await asc.main(
    [WASM_SOURCE, "--enable", "simd", "-O3", "--runtime", "stub", "--noAssert", "--outFile", "gaussian.wasm"],
    {
      writeFile: (name: string, contents: Uint8Array | string) => {
        if (name.endsWith(".wasm") && typeof contents !== "string") binary = contents;
      },
      stderr: {
        write: (s: string | Uint8Array) => {
          errors.push(String(s));
          return true;
        },
      } as never,
    },
  );
  if (error || !binary) throw new Error(`asc failed: ${error?.message ?? ""}\n${errors.join("")}`);
  return binary;
}

/** The TypeScript module that carries the bytes. */
export function moduleText(binary: Uint8Array): string {
  const b64 = Buffer.from(binary).toString("base64");
  const lines = b64.match(/.{1,100}/g) ?? [];
  return `// Written by \`npm run wasm\` from wasm/gaussian.ts; do not edit.\nexport const GAUSSIAN_WASM =\n${lines.map((l) => `  "${l}"`).join(" +\n")};\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(WASM_MODULE, moduleText(await compileGaussian()));
  console.log(`wrote ${WASM_MODULE}`);
}
