/**
 * Whole ONNX models for the runtime: a chain composed into one classifier (host-noise path), the same
 * with its Gaussian noise made inside the graph (graph-noise path), and a noise-only model.
 */
import type { NoiseVersion } from "../../core/noise.js";
import { composeChain, irVersionFor } from "./compose.js";
import { emitGaussian, type GaussianOptions, type NoiseKey } from "./gaussian.js";
import { emitPreprocess, type Normalization } from "./preprocess.js";
import {
  attr,
  DT,
  GraphBuilder,
  GraphError,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  P,
  tensor,
  valueInfo,
} from "./proto.js";

/** Opset of the noise ops: BitwiseXor is new in opset 18. */
const NOISE_OPSET = 18;

/** Names of the graph inputs; the graph-noise model takes all but `batch`, the composed chain `batch` and `sigma`. */
export const GRAPH_INPUTS = {
  /** float32 [D]: the clean input, flattened. */
  x: "x",
  /** float32 [1] (graph noise) or [N] (composed chain): the noise level. */
  sigma: "sigma",
  /** uint32 [2]: the Philox key (seedKey in src/core/noise.ts). */
  key: "key",
  /** uint32 [1]. */
  stream: "stream",
  /** uint32 [1]: index of the first draw. */
  first: "first",
  /** int32 []: number of draws. */
  count: "count",
  /** float32 [N, ...shape]: noisy inputs (composed chain). */
  batch: "batch",
} as const;

/** Graph outputs: `classes` and `nonFinite` always; the others on request. */
export const GRAPH_OUTPUTS = {
  /** int64 [N]: argmax of the logits. */
  classes: "classes",
  /** int64 []: how many rows of the logits hold NaN or an infinity (ArgMax still names a class for them). */
  nonFinite: "non_finite",
  /** float32 [N, C]. */
  logits: "logits",
  /** float32 [count, D]: the standard normal noise (before sigma). */
  noise: "noise",
  /** uint32 [count, 4 ceil(D / 4)]: the Philox words behind the noise. */
  words: "words",
} as const;

export interface NoisyClassifierOptions {
  /** Also output `noise` and `words` (for tests). */
  readonly debug?: boolean;
  /** The noise generator; default NOISE (src/core/noise.ts). */
  readonly noise?: NoiseVersion | undefined;
  /** squares32 noise from operators that GPU providers run on the device. */
  readonly device?: boolean | undefined;
  /** Normalization of the noisy inputs before the chain (manifest input.preprocess). */
  readonly preprocess?: Normalization | undefined;
}

export interface ComposeOptions {
  /** Also output `logits`. */
  readonly logits?: boolean;
  /** Normalization of the inputs before the chain (manifest input.preprocess). */
  readonly preprocess?: Normalization | undefined;
}

const gaussianOptions = (o: NoisyClassifierOptions): GaussianOptions => ({
  version: o.noise,
  device: o.device,
  words: o.debug,
});

const dimOf = (shape: readonly number[]): number => {
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new GraphError(`input shape must be positive integers, got [${shape.join(", ")}]`);
  }
  return shape.reduce((a, b) => a * b, 1);
};

const noiseKey: NoiseKey = {
  key: GRAPH_INPUTS.key,
  stream: GRAPH_INPUTS.stream,
  first: GRAPH_INPUTS.first,
  count: GRAPH_INPUTS.count,
};

const noiseKeyInputs = () => [
  valueInfo(GRAPH_INPUTS.key, DT.UINT32, [2]),
  valueInfo(GRAPH_INPUTS.stream, DT.UINT32, [1]),
  valueInfo(GRAPH_INPUTS.first, DT.UINT32, [1]),
  valueInfo(GRAPH_INPUTS.count, DT.INT32, []),
];

/**
 * The noisy classifier of a chain: inputs x, sigma, key, stream, first, count (GRAPH_INPUTS); outputs
 * logits float32 [count, C] = chain(reshape(x + sigma * noise, [count, ...inputShape])) and classes
 * int64 [count], their argmax, where
 * noise equals fillGaussian(dim, seed, stream, first, count) of src/core/noise.ts.
 */
export function buildNoisyClassifier(
  models: readonly Uint8Array[],
  sigmaInputs: readonly (string | undefined)[],
  inputShape: readonly number[],
  options: NoisyClassifierOptions = {},
): Uint8Array {
  const dim = dimOf(inputShape);
  const g = new GraphBuilder("rs/");
  const { noise, words } = emitGaussian(g, dim, noiseKey, gaussianOptions(options));
  const noisy = g.op("Add", [GRAPH_INPUTS.x, g.op("Mul", [noise, GRAPH_INPUTS.sigma])]);
  // A constant shape: no int64 arithmetic, which GPU providers leave to the CPU.
  const batch = g.op("Reshape", [noisy, g.i64([-1, ...inputShape])]);
  const sigmas = sigmaInputs.some((s) => s !== undefined)
    ? g.op("Expand", [GRAPH_INPUTS.sigma, g.op("Shape", [noisy], [attr.int("end", 1)])])
    : GRAPH_INPUTS.sigma;
  const input = emitPreprocess(g, batch, inputShape, options.preprocess);
  const chain = composeChain(models, sigmaInputs, input, sigmas, NOISE_OPSET);
  const before = g.nodes.length;
  // Logits too, fetched only by the load-time check of the class count.
  const outputs = [
    valueInfo(GRAPH_OUTPUTS.classes, DT.INT64, ["count"]),
    valueInfo(GRAPH_OUTPUTS.logits, DT.FLOAT, ["count", "C"]),
    valueInfo(GRAPH_OUTPUTS.nonFinite, DT.INT64, []),
  ];
  g.nodes.push(
    argmax(chain.output),
    identity(chain.output, GRAPH_OUTPUTS.logits),
    ...countNonFinite(chain.output, chain.opset),
  );
  if (options.debug) {
    g.nodes.push(identity(noise, GRAPH_OUTPUTS.noise), identity(words ?? "", GRAPH_OUTPUTS.words));
    outputs.push(
      valueInfo(GRAPH_OUTPUTS.noise, DT.FLOAT, ["count", dim]),
      valueInfo(GRAPH_OUTPUTS.words, DT.UINT32, ["count", "W"]),
    );
  }
  return encode(chain, {
    name: "noisy_classifier",
    node: [...g.nodes.slice(0, before), ...chain.nodes, ...g.nodes.slice(before)],
    initializer: [...g.initializers, ...chain.initializers],
    sparseInitializer: chain.sparseInitializers,
    valueInfo: chain.valueInfo,
    input: [
      valueInfo(GRAPH_INPUTS.x, DT.FLOAT, [dim]),
      valueInfo(GRAPH_INPUTS.sigma, DT.FLOAT, [1]),
      ...noiseKeyInputs(),
    ],
    output: outputs,
  });
}

/**
 * The chain as one classifier on already-noisy inputs: input batch float32 [N, ...inputShape] and,
 * if a model takes sigma, sigma float32 [N]; output classes int64 [N] (and logits on request).
 */
export function composeClassifier(
  models: readonly Uint8Array[],
  sigmaInputs: readonly (string | undefined)[],
  inputShape: readonly number[],
  options: ComposeOptions = {},
): Uint8Array {
  dimOf(inputShape);
  const g = new GraphBuilder("rs/");
  const batch = emitPreprocess(g, GRAPH_INPUTS.batch, inputShape, options.preprocess);
  const chain = composeChain(models, sigmaInputs, batch, GRAPH_INPUTS.sigma, 0);
  const input = [valueInfo(GRAPH_INPUTS.batch, DT.FLOAT, ["N", ...inputShape])];
  if (chain.usesSigma) input.push(valueInfo(GRAPH_INPUTS.sigma, DT.FLOAT, ["N"]));
  const node = [...g.nodes, ...chain.nodes, argmax(chain.output)];
  node.push(...countNonFinite(chain.output, chain.opset));
  const output = [
    valueInfo(GRAPH_OUTPUTS.classes, DT.INT64, ["N"]),
    valueInfo(GRAPH_OUTPUTS.nonFinite, DT.INT64, []),
  ];
  if (options.logits) {
    node.push(identity(chain.output, GRAPH_OUTPUTS.logits));
    output.push(valueInfo(GRAPH_OUTPUTS.logits, DT.FLOAT, ["N", "C"]));
  }
  return encode(chain, {
    name: "classifier",
    node,
    initializer: [...g.initializers, ...chain.initializers],
    sparseInitializer: chain.sparseInitializers,
    valueInfo: chain.valueInfo,
    input,
    output,
  });
}

/** Noise only: inputs key, stream, first, count; outputs noise float32 [count, dim] (and words with `debug`). */
export function buildNoiseModel(dim: number, options: NoisyClassifierOptions = {}): Uint8Array {
  dimOf([dim]);
  const g = new GraphBuilder("rs/");
  const { noise, words } = emitGaussian(g, dim, noiseKey, gaussianOptions(options));
  g.nodes.push(identity(noise, GRAPH_OUTPUTS.noise));
  const output = [valueInfo(GRAPH_OUTPUTS.noise, DT.FLOAT, ["count", dim])];
  if (options.debug) {
    g.nodes.push(identity(words ?? "", GRAPH_OUTPUTS.words));
    output.push(valueInfo(GRAPH_OUTPUTS.words, DT.UINT32, ["count", "W"]));
  }
  return encodeModel(
    { name: "gaussian_noise", node: g.nodes, initializer: g.initializers, input: noiseKeyInputs(), output },
    [{ domain: "", version: NOISE_OPSET }],
    irVersionFor(NOISE_OPSET),
  );
}

const argmax = (logits: string) => ({
  opType: "ArgMax",
  input: [logits],
  output: [GRAPH_OUTPUTS.classes],
  name: "rs/argmax",
  attribute: [attr.int("axis", 1), attr.int("keepdims", 0)],
});

/**
 * Nodes beside ArgMax that count the rows of `logits` holding NaN or an infinity, so that only a
 * count leaves the graph: l - l is 0 where l is finite and NaN where it is not, and a row's sum is
 * NaN as soon as one of its entries is.
 */
function countNonFinite(logits: string, opset: number): NodeProto[] {
  // A prefix of its own: the callers' builders also name nodes "rs/...".
  const g = new GraphBuilder("rs/finite/");
  const zeros = g.op("Sub", [logits, logits]);
  const keep0 = attr.int("keepdims", 0);
  // ReduceSum takes its axes as an input from opset 13, as an attribute before.
  const rows =
    opset >= 13
      ? g.op("ReduceSum", [zeros, constantI64(g, [1])], [keep0])
      : g.op("ReduceSum", [zeros], [attr.ints("axes", [1]), keep0]);
  const flags = g.cast(g.op("IsNaN", [rows]), DT.INT64);
  g.nodes.push({
    opType: "ReduceSum",
    input: [flags],
    output: [GRAPH_OUTPUTS.nonFinite],
    name: `rs/${GRAPH_OUTPUTS.nonFinite}`,
    attribute: [keep0],
  });
  return g.nodes;
}

/** An int64 constant as a node, so that countNonFinite needs no initializer. */
function constantI64(g: GraphBuilder, values: readonly number[]): string {
  const value = tensor("", DT.INT64, [values.length], BigInt64Array.from(values, BigInt));
  return g.op("Constant", [], [attr.tensor("value", value)]);
}

const identity = (from: string, to: string) => ({
  opType: "Identity",
  input: [from],
  output: [to],
  name: `rs/${to}`,
});

function encode(chain: ReturnType<typeof composeChain>, graph: GraphProto): Uint8Array {
  const opsets = [
    { domain: "", version: chain.opset },
    ...[...chain.otherOpsets].map(([domain, version]) => ({ domain, version })),
  ];
  return encodeModel(graph, opsets, chain.irVersion);
}

function encodeModel(
  graph: GraphProto,
  opsetImport: ModelProto["opsetImport"],
  irVersion: number,
): Uint8Array {
  return P.ModelProto.encode({ irVersion, producerName: "dualrs", opsetImport, graph }).finish();
}
