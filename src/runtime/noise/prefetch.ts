import { countClasses } from "../../core/host-noise.js";
import type { BatchClassifier, DrawBatch, NoisyClassifier } from "../../core/model.js";
import { NOISE, type NoiseVersion } from "../../core/noise.js";
import type { NoiseMaker } from "./maker.js";
import { WasmGaussian } from "./wasm-gaussian.js";

/** The batch's draws without its hint: what identifies the noisy inputs. */
function drawsOf(b: DrawBatch, first: number, count: number, stream = b.stream): DrawBatch {
  return { x: b.x, sigma: b.sigma, seed: b.seed, stream, first, count };
}

function sameDraws(a: DrawBatch, b: DrawBatch): boolean {
  return (
    a.x === b.x &&
    a.sigma === b.sigma &&
    a.seed === b.seed &&
    a.stream === b.stream &&
    a.first === b.first &&
    a.count === b.count
  );
}

/**
 * Host noise made ahead: while a batch runs through the model, the noise thread makes the next one
 * (the batch's `next` hint), so noise and inference overlap on two cores. A batch that was not made
 * ahead (the first of each call) is split: the thread makes its second half while this thread
 * makes the first. The inputs are fillNoisy's, bit for bit, whichever thread made them.
 */
export function withNoiseMaker(
  model: BatchClassifier,
  maker: NoiseMaker,
  version: NoiseVersion = NOISE,
): NoisyClassifier {
  const local = version === NOISE ? new WasmGaussian() : null;
  let ahead: { draws: DrawBatch; inputs: Promise<Float32Array> } | null = null;

  const cold = async (b: DrawBatch): Promise<Float32Array> => {
    const half = Math.ceil(b.count / 2);
    if (!local || b.count < 2) return maker.make(b, version);
    const rest = maker.make(drawsOf(b, b.first + half, b.count - half), version);
    const dim = b.x.length;
    const inputs = new Float32Array(b.count * dim);
    try {
      local.fillNoisy(inputs, drawsOf(b, b.first, half));
    } catch (e) {
      rest.then((r) => maker.release(r)).catch(() => {});
      throw e;
    }
    const second = await rest;
    inputs.set(second, half * dim);
    maker.release(second);
    return inputs;
  };

  const take = (b: DrawBatch): Promise<Float32Array> => {
    const mine = ahead;
    ahead = null;
    if (mine && sameDraws(mine.draws, b)) return mine.inputs;
    // Made ahead for draws that were not asked after all: only its buffer is of use.
    mine?.inputs.then((r) => maker.release(r)).catch(() => {});
    return cold(b);
  };

  return {
    classes: model.classes,
    async countBatch(b: DrawBatch): Promise<Uint32Array> {
      const inputs = take(b);
      if (b.next) {
        const draws = drawsOf(b, b.next.first, b.next.count, b.next.stream);
        const next = maker.make(draws, version);
        // Awaited by the next call, if it asks for these draws; never an unhandled rejection.
        next.catch(() => {});
        ahead = { draws, inputs: next };
      }
      const batch = await inputs;
      try {
        return countClasses(await model.classify(batch, b.count, b.sigma), model.classes);
      } finally {
        maker.release(batch);
      }
    },
  };
}
