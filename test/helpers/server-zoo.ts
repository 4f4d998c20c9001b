import { halfSpaceModel } from "./onnx-builder.js";
import { writeCertifier } from "./zoo.js";

/**
 * A small real zoo for the server's tests:
 * - `half`: a half-space 3 x0 + 4 x1 - 0.5 > 0 on inputs [2] in [-1, 1], one option (global mode);
 * - `dual-half`: the same classifier at sigma 0.12 and 0.5, routed by a half-space estimator;
 * - `bright`: "is the mean of a 1x4x4 image above 1/2", for image inputs.
 */
export async function writeServerZoo(dir: string): Promise<void> {
  const clf = halfSpaceModel([3, 4], -0.5, [2]);
  await writeCertifier(
    dir,
    {
      id: "half",
      input: { shape: [2], range: [-1, 1] },
      labels: ["neg", "pos"],
      options: [{ sigma: 0.25, chain: ["clf"] }],
      defaults: { n0: 20, n: 200, alpha: 0.01, batchSize: 100 },
    },
    { clf: { bytes: clf } },
  );
  await writeCertifier(
    dir,
    {
      id: "dual-half",
      input: { shape: [2], range: [-1, 1] },
      labels: ["neg", "pos"],
      options: [
        { sigma: 0.12, chain: ["clf"] },
        { sigma: 0.5, chain: ["clf"] },
      ],
      estimator: { sigma: 0.25, chain: ["est"] },
      defaults: { n0: 20, n: 200, alpha: 0.01, batchSize: 100 },
    },
    { clf: { bytes: clf }, est: { bytes: halfSpaceModel([1, 0], 0.5, [2]) } },
  );
  await writeCertifier(
    dir,
    {
      id: "bright",
      input: { shape: [1, 4, 4], range: [0, 1] },
      labels: ["dark", "bright"],
      options: [{ sigma: 0.25, chain: ["clf"] }],
      defaults: { n0: 20, n: 200, alpha: 0.01, batchSize: 100 },
    },
    { clf: { bytes: halfSpaceModel(new Array(16).fill(1 / 16), -0.5, [1, 4, 4]) } },
  );
}
