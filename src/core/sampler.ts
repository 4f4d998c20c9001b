import type { NextDraws, NoisyClassifier } from "./model.js";

export interface Progress {
  done: number;
  total: number;
}

export interface SampleHooks {
  signal?: AbortSignal | undefined;
  /** Called after each batch with the number of draws done so far in this call. */
  onBatch?: ((done: number) => void) | undefined;
}

export interface SampleSpec {
  x: Float32Array;
  sigma: number;
  seed: number;
  stream: number;
  num: number;
  batchSize: number;
  /** Index of the first draw (a later look of a sequential stage goes on from here); default 0. */
  from?: number | undefined;
  /** The draws the caller will ask for after these, if it knows them (passed on as the last batch's `next`). */
  then?: NextDraws | undefined;
}

/**
 * Class counts of the base classifier over `num` noisy draws, in batches of at most `batchSize`:
 * memory is bounded by the batch, never by `num`. Draw i always gets the same noise, so the counts
 * do not depend on the batch size, nor on which batch ends first when the model runs several at
 * once (`parallelism`): counts only add up.
 */
export async function sampleCounts(
  model: NoisyClassifier,
  spec: SampleSpec,
  hooks: SampleHooks = {},
): Promise<Uint32Array> {
  const counts = new Uint32Array(model.classes);
  const from = spec.from ?? 0;
  let next = 0;
  let done = 0;
  let failed = false;
  const lanes = Math.max(1, Math.min(model.parallelism ?? 1, Math.ceil(spec.num / spec.batchSize)));
  const lane = async () => {
    while (!failed && next < spec.num) {
      hooks.signal?.throwIfAborted();
      const first = next;
      const count = Math.min(spec.batchSize, spec.num - first);
      next += count;
      // With one lane the next batch is known: the model may make its noise meanwhile.
      const following =
        lanes > 1
          ? undefined
          : next < spec.num
            ? { first: from + next, count: Math.min(spec.batchSize, spec.num - next) }
            : spec.then;
      const batch = await model
        .countBatch({
          x: spec.x,
          sigma: spec.sigma,
          seed: spec.seed,
          stream: spec.stream,
          first: from + first,
          count,
          next: following,
        })
        .catch((e: unknown) => {
          // The other lanes start no new batch.
          failed = true;
          throw e;
        });
      for (let c = 0; c < counts.length; c++) counts[c] = (counts[c] ?? 0) + (batch[c] ?? 0);
      done += count;
      hooks.onBatch?.(done);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  hooks.signal?.throwIfAborted();
  return counts;
}

/** Index of the largest count; ties go to the lowest index, as numpy's argmax in Cohen et al.'s code. */
export function argmax(counts: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < counts.length; i++) if ((counts[i] ?? 0) > (counts[best] ?? 0)) best = i;
  return best;
}
