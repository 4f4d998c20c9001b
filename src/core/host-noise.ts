import type { BatchClassifier, DrawBatch, NoisyClassifier } from "./model.js";
import { fillGaussian, NOISE, type NoiseVersion } from "./noise.js";

/**
 * Makes the noise on the host: fills a reusable buffer with x + sigma * eps_i for each draw of the
 * batch and asks the base classifier for its classes. Memory is one batch of inputs.
 */
export function withHostNoise(model: BatchClassifier, version: NoiseVersion = NOISE): NoisyClassifier {
  let buffer = new Float32Array(0);
  return {
    classes: model.classes,
    async countBatch(b: DrawBatch): Promise<Uint32Array> {
      const size = b.x.length * b.count;
      if (buffer.length < size) buffer = new Float32Array(size);
      const inputs = buffer.subarray(0, size);
      fillNoisy(inputs, b, version);
      const classes = await model.classify(inputs, b.count, b.sigma);
      return countClasses(classes, model.classes);
    },
  };
}

/**
 * out[k * dim + j] = x[j] + sigma * eps_(first + k)[j] for the draws of the batch: the noise rounded
 * to float32, then the sum rounded once (the bits every host implementation of the noise gives).
 */
export function fillNoisy(out: Float32Array, b: DrawBatch, version: NoiseVersion = NOISE): void {
  const dim = b.x.length;
  fillGaussian(out, dim, b.seed, b.stream, b.first, b.count, version);
  for (let k = 0; k < b.count; k++) {
    const row = k * dim;
    for (let j = 0; j < dim; j++) out[row + j] = (b.x[j] as number) + b.sigma * (out[row + j] as number);
  }
}

/** Histogram of predicted classes; a class outside [0, classes) is a broken model. */
export function countClasses(predicted: ArrayLike<number>, classes: number): Uint32Array {
  const counts = new Uint32Array(classes);
  for (let i = 0; i < predicted.length; i++) {
    const c = predicted[i] as number;
    if (!(c >= 0 && c < classes)) throw new RangeError(`model predicted class ${c}, outside [0, ${classes})`);
    counts[c] = (counts[c] ?? 0) + 1;
  }
  return counts;
}
