/**
 * The small interface through which the engine talks to models. The engine never sees a tensor
 * library: it asks a base classifier for the class counts of a batch of noisy draws around x.
 */

/** A batch of Gaussian draws around one input: x + sigma * eps_i for i in [first, first + count). */
export interface DrawBatch {
  /** The clean input, flattened row-major. */
  readonly x: Float32Array;
  readonly sigma: number;
  /** Noise key: eps_i depends only on (seed, stream, i), never on how draws are batched. */
  readonly seed: number;
  readonly stream: number;
  readonly first: number;
  readonly count: number;
  /**
   * The draws the same caller asks for next, where it knows them, so that a classifier may make
   * their noise while this batch runs; absent: none known.
   */
  readonly next?: NextDraws | undefined;
}

/** Draws asked for next: of the same stream unless it says another. */
export interface NextDraws {
  readonly stream?: number | undefined;
  readonly first: number;
  readonly count: number;
}

/** A base classifier f evaluated on noisy draws; the noise may be made on the host or in the model graph. */
export interface NoisyClassifier {
  readonly classes: number;
  /** How many batches it runs at once (threads, each with its own session); absent: 1. */
  readonly parallelism?: number | undefined;
  /** Class counts (length `classes`) of f(x + sigma * eps_i) over the draws of the batch. */
  countBatch(batch: DrawBatch): Promise<Uint32Array>;
}

/** A base classifier on already-noisy inputs; `withHostNoise` turns it into a NoisyClassifier. */
export interface BatchClassifier {
  readonly classes: number;
  /**
   * The predicted class of each of `count` inputs laid out back to back in `inputs`. `sigma` is the
   * noise level they carry, for base models that take it as an input (denoisers).
   */
  classify(inputs: Float32Array, count: number, sigma: number): Promise<Int32Array>;
}
