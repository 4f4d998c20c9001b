/**
 * Upgrades the default-domain nodes of a model from its opset to a higher one, so that models of
 * different opsets (and the opset-18 noise ops) can share one graph: an opset import is model-wide.
 *
 * Only the changes of signature or meaning between opsets 11 and 21 that the ONNX changelog lists
 * (onnx/docs/Changelog.md, onnx/docs/Operators.md) are handled; the other ops kept their meaning and
 * only gained types or optional attributes/inputs with the old defaults. Changes not handled are
 * refused with a GraphError rather than silently changing what a model computes.
 */
import { attr, GraphError, isDefaultDomain, type NodeProto, P, tensor, toNumber } from "./proto.js";

/** The opsets this module knows how to move between. */
export const MIN_OPSET = 11;
export const MAX_OPSET = 21;

/** Reduce ops whose `axes` attribute became an input: ReduceSum at 13, the others at 18. */
const REDUCE_AXES_INPUT_AT: Record<string, number> = {
  ReduceSum: 13,
  ReduceMean: 18,
  ReduceMax: 18,
  ReduceMin: 18,
  ReduceProd: 18,
  ReduceL1: 18,
  ReduceL2: 18,
  ReduceLogSum: 18,
  ReduceLogSumExp: 18,
  ReduceSumSquare: 18,
};

/** Ops whose meaning changed in a way not converted here, with the opset of the change. */
const REFUSED_AT: Record<string, number> = {
  DFT: 20, // dft_length and axis moved to inputs, onesided semantics
  GridSample: 20, // mode names changed ("bilinear" -> "linear")
  GroupNormalization: 21, // scale and bias per channel instead of per group
};

export type Fresh = (hint: string) => string;

/**
 * Returns `nodes` rewritten from opset `from` to `to`; node names and tensor names must already be
 * final, and `fresh` makes new unique names. Subgraphs (If, Loop, Scan) are upgraded in place.
 */
export function upgradeNodes(
  nodes: readonly NodeProto[],
  from: number,
  to: number,
  fresh: Fresh,
): NodeProto[] {
  if (from < MIN_OPSET || to > MAX_OPSET || from > to) {
    throw new GraphError(
      `cannot upgrade a model from opset ${from} to ${to}: supported opsets are ${MIN_OPSET} to ${MAX_OPSET}`,
    );
  }
  if (from === to) return [...nodes];
  const out: NodeProto[] = [];
  for (const node of nodes) {
    for (const a of node.attribute ?? []) {
      if (a.g) a.g.node = upgradeNodes(a.g.node ?? [], from, to, fresh);
      for (const sub of a.graphs ?? []) sub.node = upgradeNodes(sub.node ?? [], from, to, fresh);
    }
    out.push(...(isDefaultDomain(node.domain) ? upgradeNode(node, from, to, fresh) : [node]));
  }
  return out;
}

function upgradeNode(node: NodeProto, from: number, to: number, fresh: Fresh): NodeProto[] {
  const crosses = (v: number) => from < v && v <= to;
  const op = node.opType ?? "";
  const refusedAt = REFUSED_AT[op];
  if (refusedAt !== undefined && crosses(refusedAt)) {
    throw new GraphError(
      `cannot upgrade ${describe(node)} across opset ${refusedAt}, where its meaning changed`,
    );
  }
  const before: NodeProto[] = [];
  const n: NodeProto = { ...node, input: [...(node.input ?? [])], attribute: [...(node.attribute ?? [])] };

  if (op === "Scatter") n.opType = "ScatterElements"; // deprecated alias with the same meaning (opset 11)
  if (op === "Dropout" && crosses(12)) takeAttr(n, "ratio"); // ratio became an input; inference ignores it
  if ((op === "Squeeze" || op === "Unsqueeze") && crosses(13)) attrToInput(n, "axes", 1, before, fresh);
  if (op === "Split" && crosses(13)) attrToInput(n, "split", 1, before, fresh);
  const reduceAt = REDUCE_AXES_INPUT_AT[op];
  if (reduceAt !== undefined && crosses(reduceAt)) attrToInput(n, "axes", 1, before, fresh);
  if (op === "Split" && crosses(18) && !n.input?.[1] && !findAttr(n, "num_outputs")) {
    // Opset 18 wants `split` or `num_outputs`; before, no `split` meant equal parts, one per output.
    n.attribute?.push(attr.int("num_outputs", n.output?.length ?? 0));
  }
  if (op === "Resize" && crosses(13)) {
    const mode = findAttr(n, "coordinate_transformation_mode");
    if (mode?.s && new TextDecoder().decode(mode.s) === "tf_half_pixel_for_nn") {
      throw new GraphError(`${describe(node)}: coordinate mode tf_half_pixel_for_nn was removed at opset 13`);
    }
  }
  if (op === "RoiAlign" && crosses(16) && !findAttr(n, "coordinate_transformation_mode")) {
    // Opset 16 added this attribute with default "half_pixel"; before, the behaviour was "output_half_pixel".
    n.attribute?.push(attr.string("coordinate_transformation_mode", "output_half_pixel"));
  }
  if ((op === "Softmax" || op === "LogSoftmax" || op === "Hardmax") && crosses(13)) {
    return [...before, ...softmaxOnFlattened(n, fresh)];
  }
  return [...before, n];
}

/**
 * Before opset 13, Softmax-like ops coerced the input to 2D at `axis` (default 1) and normalized each
 * row; from 13 they normalize along `axis` only. Same result: Flatten, op on the last axis, Reshape.
 */
function softmaxOnFlattened(n: NodeProto, fresh: Fresh): NodeProto[] {
  const axis = toNumber(takeAttr(n, "axis")?.i ?? 1);
  if (axis === -1) {
    n.attribute?.push(attr.int("axis", -1));
    return [n];
  }
  const x = n.input?.[0] ?? "";
  const y = n.output?.[0] ?? "";
  const shape = fresh("shape");
  const flat = fresh("flat");
  const normalized = fresh("normalized");
  return [
    { opType: "Shape", input: [x], output: [shape], name: fresh("Shape") },
    {
      opType: "Flatten",
      input: [x],
      output: [flat],
      name: fresh("Flatten"),
      attribute: [attr.int("axis", axis)],
    },
    { ...n, input: [flat], output: [normalized], attribute: [...(n.attribute ?? []), attr.int("axis", -1)] },
    { opType: "Reshape", input: [normalized, shape], output: [y], name: fresh("Reshape") },
  ];
}

/** Moves an INTS attribute to input `index` as an int64 Constant (optional inputs before it stay ""). */
function attrToInput(n: NodeProto, name: string, index: number, before: NodeProto[], fresh: Fresh): void {
  const a = takeAttr(n, name);
  if (!a) return;
  const values = (a.ints ?? []).map(toNumber);
  const constant = fresh(name);
  before.push({
    opType: "Constant",
    input: [],
    output: [constant],
    name: fresh("Constant"),
    attribute: [
      attr.tensor(
        "value",
        tensor(constant, P.TensorProto.DataType.INT64, [values.length], BigInt64Array.from(values, BigInt)),
      ),
    ],
  });
  const input = n.input ?? [];
  while (input.length < index) input.push("");
  input[index] = constant;
  n.input = input;
}

function findAttr(n: NodeProto, name: string) {
  return n.attribute?.find((a) => a.name === name);
}

/** Removes and returns attribute `name`. */
function takeAttr(n: NodeProto, name: string) {
  const a = findAttr(n, name);
  if (a) n.attribute = n.attribute?.filter((b) => b !== a);
  return a;
}

function describe(node: NodeProto): string {
  return `node ${node.name ? `"${node.name}" ` : ""}(${node.opType})`;
}
