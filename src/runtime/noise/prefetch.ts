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

/** A batch asked of the noise thread: its rows from `split` on; this thread makes those before. */
interface Asked {
  readonly draws: DrawBatch;
  readonly split: number;
  readonly rest: Promise<Float32Array>;
}

/**
 * Host noise made ahead: while a batch runs through the model, the noise thread makes the next one
 * (the batch's `next` hint), so noise and inference overlap on two cores. Where there is no time
 * for that (the first batch of a call, or one after a much smaller batch), the thread makes the
 * batch's second half while this thread makes the first. The inputs are fillNoisy's, bit for bit,
 * whichever thread made them.
 */
export function withNoiseMaker(
  model: BatchClassifier,
  maker: NoiseMaker,
  version: NoiseVersion = NOISE,
): NoisyClassifier {
  const local = version === NOISE ? new WasmGaussian() : null;
  let ahead: Asked | null = null;

  const ask = (draws: DrawBatch, split: number): Asked => {
    const rest = maker.make(drawsOf(draws, draws.first + split, draws.count - split), version);
    // Awaited when the batch is taken, if it is; never an unhandled rejection.
    rest.catch(() => {});
    return { draws, split, rest };
  };
  /** Half of the batch for this thread, where it can make noise at all. */
  const half = (count: number) => (local && count > 1 ? Math.ceil(count / 2) : 0);

  const inputsOf = async ({ draws, split, rest }: Asked): Promise<Float32Array> => {
    if (!local || split === 0) return rest;
    const dim = draws.x.length;
    const inputs = maker.buffer(draws.count * dim);
    try {
      local.fillNoisy(inputs, drawsOf(draws, draws.first, split));
    } catch (e) {
      rest.then((r) => maker.release(r)).catch(() => {});
      throw e;
    }
    const second = await rest;
    inputs.set(second, split * dim);
    maker.release(second);
    return inputs;
  };

  const take = (b: DrawBatch): Promise<Float32Array> => {
    const mine = ahead;
    ahead = null;
    if (mine && sameDraws(mine.draws, b)) return inputsOf(mine);
    // Made ahead for draws that were not asked after all: only its buffer is of use.
    mine?.rest.then((r) => maker.release(r)).catch(() => {});
    return inputsOf(ask(drawsOf(b, b.first, b.count), half(b.count)));
  };

  return {
    classes: model.classes,
    async countBatch(b: DrawBatch): Promise<Uint32Array> {
      const inputs = take(b);
      if (b.next) {
        const draws = drawsOf(b, b.next.first, b.next.count, b.next.stream);
        // The thread makes about as many rows as this batch runs through the model meanwhile.
        ahead = ask(draws, b.next.count > 2 * b.count ? half(b.next.count) : 0);
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
