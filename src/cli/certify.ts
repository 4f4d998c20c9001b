import { type Certificate, certifyResolved, resolveParameters, validateInput } from "../core/index.js";
import { imageToInput } from "../runtime/image/index.js";
import { type CertifyArgs, parseCertifyArgs } from "./args.js";
import { openCertifier } from "./certifier.js";
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
  const certifier = await openCertifier(args.manifest, args);
  const bar = progressBar();
  try {
    // Input and parameters checked once, before any model runs.
    const { manifest } = certifier;
    const x =
      "image" in input
        ? validateInput(manifest, imageToInput(manifest, input.image, ["input"]), manifest.input.shape)
        : validateInput(manifest, input.data, input.shape);
    const p = resolveParameters(manifest, args.request);
    return await certifyResolved(certifier, x, p, { signal, onProgress: (done) => bar.update(done) });
  } finally {
    bar.clear();
    await certifier.close();
  }
}
