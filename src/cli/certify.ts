import { dirname, resolve } from "node:path";
import { type Certificate, certifyInput, validateInput } from "../core/index.js";
import { loadCertifier } from "../runtime/certifier.js";
import { localModelStore } from "../runtime/model-store.js";
import { type CertifyArgs, parseCertifyArgs } from "./args.js";
import { readInputFile } from "./input-file.js";
import { progressBar } from "./progress.js";

/** `dualrs certify`: loads the certifier next to its manifest, certifies one input, prints JSON. */
export async function certifyCommand(argv: string[], signal: AbortSignal): Promise<void> {
  const args = parseCertifyArgs(argv);
  const cert = await runCertify(args, signal);
  process.stdout.write(`${JSON.stringify(cert, null, 2)}\n`);
}

export async function runCertify(args: CertifyArgs, signal: AbortSignal): Promise<Certificate> {
  const input = await readInputFile(args.input);
  // An absolute path always reads as a path, never as a manifest id.
  const manifestPath = resolve(args.manifest);
  const certifier = await loadCertifier(localModelStore(dirname(manifestPath)), manifestPath, {
    providers: args.providers,
    noise: args.noise,
    threads: args.threads,
  });
  const bar = progressBar();
  try {
    // Shape and range first, so that a bad input fails before any model runs.
    const x = validateInput(certifier.manifest, input.data, input.shape);
    return await certifyInput(certifier, x, args.request, { signal, onProgress: (p) => bar.update(p) });
  } finally {
    bar.clear();
    await certifier.close();
  }
}
