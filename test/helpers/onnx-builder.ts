/**
 * Builds small ONNX models for tests, node by node, with onnx-proto.
 */
import {
  type AttributeProto,
  attr,
  DT,
  type NodeProto,
  P,
  type TensorProto,
  tensor,
  type ValueInfoProto,
  valueInfo,
} from "../../src/runtime/graph/proto.js";

export { attr, DT, P };

export const floats = (name: string, dims: readonly number[], values: readonly number[]): TensorProto =>
  tensor(name, DT.FLOAT, dims, Float32Array.from(values));

export const int64s = (name: string, values: readonly number[]): TensorProto =>
  tensor(name, DT.INT64, [values.length], BigInt64Array.from(values, BigInt));

export const node = (
  opType: string,
  input: readonly string[],
  output: readonly string[],
  attribute: AttributeProto[] = [],
  domain = "",
): NodeProto => ({
  opType,
  input: [...input],
  output: [...output],
  attribute,
  domain,
  name: `${opType}:${output[0]}`,
});

export const floatInput = (name: string, dims: readonly (number | string)[]): ValueInfoProto =>
  valueInfo(name, DT.FLOAT, dims);

export interface ModelSpec {
  readonly nodes: NodeProto[];
  readonly inputs: ValueInfoProto[];
  readonly outputs: ValueInfoProto[];
  readonly initializers?: TensorProto[];
  readonly opset?: number;
  /** Extra opset imports, e.g. { domain: "com.microsoft", version: 1 }. */
  readonly imports?: { domain: string; version: number }[];
}

export function buildModel(spec: ModelSpec): Uint8Array {
  return P.ModelProto.encode({
    irVersion: 8,
    producerName: "dualrs-tests",
    opsetImport: [{ domain: "", version: spec.opset ?? 17 }, ...(spec.imports ?? [])],
    graph: {
      name: "test",
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  }).finish();
}

/** A seeded uniform generator for test weights (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * logits = reshape(x, [N, D]) W + b, with W given as D rows of C weights; input "x" [N, ...shape].
 * Its argmax regions are polyhedra, so smoothed predictions and certified radii are known exactly.
 */
export function linearModel(
  weights: readonly (readonly number[])[],
  bias: readonly number[],
  shape: readonly number[],
  opset = 17,
): Uint8Array {
  const dim = weights.length;
  const classes = bias.length;
  return buildModel({
    opset,
    initializers: [
      floats("W", [dim, classes], weights.flat()),
      floats("b", [classes], bias),
      int64s("flat", [-1, dim]),
    ],
    nodes: [
      node("Reshape", ["x", "flat"], ["x2"]),
      node("MatMul", ["x2", "W"], ["xw"]),
      node("Add", ["xw", "b"], ["logits"]),
    ],
    inputs: [floatInput("x", ["N", ...shape])],
    outputs: [floatInput("logits", ["N", classes])],
  });
}

/** A linear model with seeded random weights in [-0.5, 0.5). */
export function randomLinearModel(
  shape: readonly number[],
  classes: number,
  seed: number,
  opset = 17,
): Uint8Array {
  const dim = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const weights = Array.from({ length: dim }, () => Array.from({ length: classes }, () => r() - 0.5));
  return linearModel(
    weights,
    Array.from({ length: classes }, () => r() - 0.5),
    shape,
    opset,
  );
}

/** A binary linear classifier: logits [0, w.x + b], so class 1 where w.x + b > 0. */
export function halfSpaceModel(w: readonly number[], b: number, shape: readonly number[]): Uint8Array {
  return linearModel(
    w.map((wi) => [0, wi]),
    [0, b],
    shape,
  );
}

/** A "denoiser" that takes sigma: y = x - sigma (per row), so its effect on counts is known exactly. */
export function shiftBySigmaModel(dim: number): Uint8Array {
  return buildModel({
    initializers: [int64s("axes", [1])],
    nodes: [node("Unsqueeze", ["sigma", "axes"], ["s"]), node("Sub", ["x", "s"], ["y"])],
    inputs: [floatInput("x", ["N", dim]), floatInput("sigma", ["N"])],
    outputs: [floatInput("y", ["N", dim])],
  });
}

/**
 * A "denoiser" that takes sigma [N]: out = x * 0.9 - sigma[n] * 0.25, with inner names that clash
 * with the linear model's ("x", "flat") and with the composed graph's ("sigma").
 */
export function sigmaModel(shape: readonly number[], sigmaName = "sigma"): Uint8Array {
  const ones = shape.map(() => 1);
  return buildModel({
    initializers: [floats("scale", [], [0.9]), floats("shift", [], [0.25]), int64s("flat", [-1, ...ones])],
    nodes: [
      node("Reshape", [sigmaName, "flat"], ["s4"]),
      node("Mul", ["x", "scale"], ["xs"]),
      node("Mul", ["s4", "shift"], ["ss"]),
      node("Sub", ["xs", "ss"], ["out"]),
    ],
    inputs: [floatInput("x", ["N", ...shape]), floatInput(sigmaName, ["N"])],
    outputs: [floatInput("out", ["N", ...shape])],
  });
}
