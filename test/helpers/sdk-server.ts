import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pngjs from "pngjs";
import { FASHION_MNIST_CLASSES } from "../../src/eval/dataset.js";
import { localModelStore } from "../../src/runtime/model-store.js";
import { loadConfig } from "../../src/server/config.js";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { halfSpaceModel, linearModel } from "./onnx-builder.js";
import { writeServerZoo } from "./server-zoo.js";
import { ensureWebBuild } from "./web-build.js";
import { writeCertifier } from "./zoo.js";

/** The web page's sample images (real Fashion-MNIST test images) and their labels. */
export const SAMPLES_DIR = "src/web/public/images";

const FASHION_LABELS = [...FASHION_MNIST_CLASSES];

/** A sample image's pixels in [0, 1], row-major. */
export async function samplePixels(file: string): Promise<number[]> {
  const png = pngjs.PNG.sync.read(await readFile(join(SAMPLES_DIR, file)));
  return Array.from({ length: png.width * png.height }, (_, i) => (png.data[4 * i] ?? 0) / 255);
}

/**
 * `fmnist-templates`: a dual certifier on [1, 28, 28] images whose classifier is nearest-template
 * (logit k = <x, t_k> - |t_k|^2 / 2, with t_k the sample image of class k) at sigma 0.12 or 0.5,
 * and whose estimator routes by mean brightness. Small and exact, yet real images end to end.
 */
export async function writeTemplateCertifier(dir: string): Promise<void> {
  const index: { file: string; label: string }[] = JSON.parse(
    await readFile(join(SAMPLES_DIR, "index.json"), "utf8"),
  );
  const templates = await Promise.all(
    FASHION_LABELS.map(async (label) => {
      const sample = index.find((s) => s.label === label);
      if (!sample) throw new Error(`no sample image of ${label}`);
      return samplePixels(sample.file);
    }),
  );
  const weights = Array.from({ length: 784 }, (_, j) => templates.map((t) => t[j] ?? 0));
  const bias = templates.map((t) => -t.reduce((a, v) => a + v * v, 0) / 2);
  await writeCertifier(
    dir,
    {
      id: "fmnist-templates",
      title: "Fashion-MNIST templates",
      description: "Nearest-template classifier over one test image per class.",
      input: { shape: [1, 28, 28], range: [0, 1] },
      labels: FASHION_LABELS,
      options: [
        { sigma: 0.12, chain: ["clf"] },
        { sigma: 0.5, chain: ["clf"] },
      ],
      estimator: { sigma: 0.25, chain: ["est"] },
      defaults: { n0: 32, n: 256, alpha: 0.01, batchSize: 256 },
    },
    {
      clf: { bytes: linearModel(weights, bias, [1, 28, 28]) },
      est: { bytes: halfSpaceModel(new Array(784).fill(1 / 784), -0.3, [1, 28, 28]) },
    },
  );
}

export interface SdkServer extends RunningServer {
  stop(): Promise<void>;
}

/** The real server on a loopback port with its embedded queue, over the server zoo and `fmnist-templates`. */
export async function startSdkServer(env: Record<string, string> = {}): Promise<SdkServer> {
  // The page it serves is the built one.
  await ensureWebBuild();
  const dir = await mkdtemp(join(tmpdir(), "dualrs-sdk-"));
  const zoo = join(dir, "models");
  await writeServerZoo(zoo);
  await writeTemplateCertifier(zoo);
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    MODEL_STORE: zoo,
    DATA_DIR: join(dir, "data"),
    PROVIDERS: "cpu",
    THREADS: "1",
    // Tests keep jobs running with n up to 1e9, to cancel them or watch them wait.
    MAX_DRAWS: "0",
    ...env,
  });
  // The embedded queue, as `dualrs serve` runs it.
  const server = await startServer({ config, store: localModelStore(zoo) });
  return {
    ...server,
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
