import { GraphError, P, toNumber, type ValueInfoProto } from "./graph/proto.js";

/** A graph input or output as the model declares it; a dimension is a size, a name, or "?". */
export interface ValueSignature {
  readonly name: string;
  /** Null when the model does not declare a shape. */
  readonly dims: readonly (number | string)[] | null;
}

export interface ModelSignature {
  /** Inputs a caller feeds (initializers that double as inputs are left out). */
  readonly inputs: readonly ValueSignature[];
  readonly outputs: readonly ValueSignature[];
}

/**
 * The declared inputs and outputs of an ONNX model. Composing a chain drops the inner models'
 * declarations, so checks against the manifest read them from the models themselves. Bytes that
 * do not decode to a model with a graph are a GraphError "<what> is not an ONNX model".
 */
export function readSignature(bytes: Uint8Array, what = "the model"): ModelSignature {
  let graph: ReturnType<typeof P.ModelProto.decode>["graph"];
  try {
    graph = P.ModelProto.decode(bytes).graph;
  } catch {
    // The decoder's own message (a wire type, an offset) says nothing to whoever chose the file.
    throw new GraphError(`${what} is not an ONNX model`);
  }
  if (!graph?.output?.length) throw new GraphError(`${what} is not an ONNX model`);
  const initialized = new Set((graph?.initializer ?? []).map((t) => t.name ?? ""));
  return {
    inputs: (graph?.input ?? []).filter((v) => !initialized.has(v.name ?? "")).map(valueSignature),
    outputs: (graph?.output ?? []).map(valueSignature),
  };
}

function valueSignature(v: ValueInfoProto): ValueSignature {
  const shape = v.type?.tensorType?.shape;
  // An unset dimValue decodes as 0: a dimension with neither value nor name is unknown.
  const dims = shape?.dim?.map((d) => (d.dimParam ? d.dimParam : toNumber(d.dimValue) || "?"));
  return { name: v.name ?? "", dims: shape ? (dims ?? []) : null };
}
