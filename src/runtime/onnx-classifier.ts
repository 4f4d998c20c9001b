import * as ort from "onnxruntime-node";
import { ModelError } from "../core/errors.js";
import { countClasses, withHostNoise } from "../core/host-noise.js";
import type { BatchClassifier, DrawBatch, NoisyClassifier } from "../core/model.js";
import { NOISE, type NoiseVersion } from "../core/noise.js";
import { NonFiniteLogitsError } from "./errors.js";
import { GRAPH_INPUTS, GRAPH_OUTPUTS, noisyFeeds } from "./graph/index.js";
import type { NoiseMaker } from "./noise/maker.js";
import { withNoiseMaker } from "./noise/prefetch.js";
import type { Session } from "./session.js";

/** Index of the largest logit of each row; ties go to the lowest index, as ONNX ArgMax. */
export function argmaxRows(logits: ArrayLike<number>, rows: number, classes: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = r * classes;
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((logits[row + c] as number) > (logits[row + best] as number)) best = c;
    out[r] = best;
  }
  return out;
}

/** Histogram of predicted classes, given as int64 (ONNX ArgMax) or plain numbers. */
export function countPredicted(predicted: BigInt64Array | ArrayLike<number>, classes: number): Uint32Array {
  return countClasses(
    predicted instanceof BigInt64Array ? Array.from(predicted, Number) : predicted,
    classes,
  );
}

/** The int64 `classes` output of a run, checked to hold one class per draw. */
function classesOf(out: ort.InferenceSession.ReturnType, count: number, name: string): BigInt64Array {
  const t = out[GRAPH_OUTPUTS.classes];
  if (t?.type !== "int64" || t.dims.length !== 1 || t.dims[0] !== count) {
    const got = t ? `${t.type} [${t.dims.join(", ")}]` : "nothing";
    throw new ModelError(`${name}: output "classes" is ${got}; expected int64 [${count}]`);
  }
  return t.data as BigInt64Array;
}

/** Fails the batch when any of its draws had a NaN or infinite logit, which ArgMax maps to a class. */
function requireFinite(
  out: ort.InferenceSession.ReturnType,
  count: number,
  sigma: number,
  name: string,
): void {
  const t = out[GRAPH_OUTPUTS.nonFinite];
  if (t?.type !== "int64" || t.size !== 1) {
    const got = t ? `${t.type} [${t.dims.join(", ")}]` : "nothing";
    throw new ModelError(`${name}: output "${GRAPH_OUTPUTS.nonFinite}" is ${got}; expected one int64`);
  }
  const nonFinite = Number((t.data as BigInt64Array)[0]);
  if (nonFinite > 0) throw new NonFiniteLogitsError(name, sigma, nonFinite, count);
}

/**
 * The base classifier of a chain composed into one graph without noise (composeClassifier):
 * input batch float32 [N, ...inputShape] and, when a model of the chain takes it, sigma [N].
 */
export function composedClassifier(
  session: Session,
  inputShape: readonly number[],
  classes: number,
  name: string,
): BatchClassifier {
  const takesSigma = session.inputNames.includes(GRAPH_INPUTS.sigma);
  const fetches = [GRAPH_OUTPUTS.classes, GRAPH_OUTPUTS.nonFinite];
  return {
    classes,
    async classify(inputs, count, sigma) {
      const feeds: Record<string, ort.Tensor> = {
        [GRAPH_INPUTS.batch]: new ort.Tensor("float32", inputs, [count, ...inputShape]),
      };
      if (takesSigma)
        feeds[GRAPH_INPUTS.sigma] = new ort.Tensor("float32", new Float32Array(count).fill(sigma), [count]);
      // Only the classes and a count of non-finite rows cross back; logits stay in the session.
      const out = await session.run(feeds, fetches);
      requireFinite(out, count, sigma, name);
      return Int32Array.from(classesOf(out, count, name), Number);
    },
  };
}

/**
 * Host noise: x + sigma * eps made on the CPU, classified by the composed chain; by a NoiseMaker's
 * thread ahead of each batch where one is given, else by core's fillNoisy on this thread.
 */
export function hostNoiseClassifier(
  session: Session,
  inputShape: readonly number[],
  classes: number,
  name: string,
  version: NoiseVersion = NOISE,
  maker?: NoiseMaker,
): NoisyClassifier {
  const base = composedClassifier(session, inputShape, classes, name);
  return maker ? withNoiseMaker(base, maker, version) : withHostNoise(base, version);
}

/**
 * Graph noise: the chain with its noise made inside the graph (buildNoisyClassifier), so only x and
 * the noise key cross to the device and only the classes (and a count of non-finite rows) come back.
 */
export function graphNoiseClassifier(
  session: Session,
  classes: number,
  name: string,
  version: NoiseVersion = NOISE,
): NoisyClassifier {
  return {
    classes,
    async countBatch(b: DrawBatch): Promise<Uint32Array> {
      const feeds = graphNoiseFeeds(b, version);
      const out = await session.run(feeds, [GRAPH_OUTPUTS.classes, GRAPH_OUTPUTS.nonFinite]);
      requireFinite(out, b.count, b.sigma, name);
      return countPredicted(classesOf(out, b.count, name), classes);
    },
  };
}

/** The feeds of a noisy graph as tensors (the key made from the seed as the noise version says). */
export function graphNoiseFeeds(b: DrawBatch, version: NoiseVersion = NOISE): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(noisyFeeds(b, version)).map(([name, f]) => [name, new ort.Tensor(f.data, [...f.dims])]),
  );
}
