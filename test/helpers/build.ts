import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { build, type Options } from "tsup";
import config from "../../tsup.config.js";

/**
 * Builds the package with the project's tsup configuration into a folder of its own (inside the
 * repository, so that node_modules resolve), for tests that run the built code as users do.
 */
export async function buildPackage(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = resolve("node_modules", ".cache", `dualrs-build-${process.pid}`);
  await build({ ...(config as Options), outDir: dir, dts: false, sourcemap: false, silent: true });
  // node_modules is a package boundary: say again that these files are ES modules.
  await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
