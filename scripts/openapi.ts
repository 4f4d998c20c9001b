/**
 * npm run openapi: writes openapi/openapi.json from the API's zod schemas. `--check` fails instead
 * when the committed file differs, which is how CI catches a stale document.
 */
import { readFile, writeFile } from "node:fs/promises";
import { openApiDocument } from "../src/server/openapi.js";

const file = new URL("../openapi/openapi.json", import.meta.url);
const text = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
if (process.argv.includes("--check")) {
  const committed = await readFile(file, "utf8").catch(() => "");
  if (committed !== text) {
    console.error("openapi/openapi.json is stale: run npm run openapi and commit it");
    process.exit(1);
  }
} else {
  await writeFile(file, text);
  console.log("wrote openapi/openapi.json");
}
