/**
 * Composes a chain of ONNX models into the pieces of one graph: each model's first input takes the
 * previous model's first output, its sigma input (if any) a shared per-draw sigma tensor.
 *
 * Every name of model k (tensors, nodes, subgraphs' too) gets the prefix `m<k>/`, so models cannot
 * collide with each other; names made while upgrading get `m<k>#`. Builders of the surrounding graph
 * must use names that start with neither (e.g. "x", "rs/...").
 * The wired inputs are dropped, initializers kept; all models are upgraded to one opset (opset.ts).
 */
import { MAX_OPSET, MIN_OPSET, upgradeNodes } from "./opset.js";
import {
  DT,
  GraphError,
  type GraphProto,
  isDefaultDomain,
  type ModelProto,
  type NodeProto,
  P,
  type TensorProto,
  toNumber,
  type ValueInfoProto,
} from "./proto.js";

export interface ComposedChain {
  readonly nodes: NodeProto[];
  readonly initializers: TensorProto[];
  readonly sparseInitializers: NonNullable<GraphProto["sparseInitializer"]>;
  readonly valueInfo: ValueInfoProto[];
  /** The last model's first output (logits). */
  readonly output: string;
  /** Default-domain opset of the composed graph. */
  readonly opset: number;
  /** Opsets of other domains, agreed by all models that import them. */
  readonly otherOpsets: ReadonlyMap<string, number>;
  readonly irVersion: number;
  /** Whether some model takes the sigma tensor. */
  readonly usesSigma: boolean;
}

interface Decoded {
  readonly model: ModelProto;
  readonly graph: GraphProto;
  readonly opset: number;
  readonly label: string;
}

/** The lowest IR version that allows each opset (onnx/helper.py VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

/**
 * Composes `models` (ONNX bytes, in order). `input` is the tensor fed to the first model, `sigma` the
 * float32 [N] tensor fed to the inputs named in `sigmaInputs[k]`; the opset is at least `minOpset`.
 */
export function composeChain(
  models: readonly Uint8Array[],
  sigmaInputs: readonly (string | undefined)[],
  input: string,
  sigma: string,
  minOpset: number,
): ComposedChain {
  if (models.length === 0) throw new GraphError("a chain needs at least one model");
  if (sigmaInputs.length > models.length) throw new GraphError("more sigma inputs than models");
  const decoded = models.map((bytes, k) => decode(bytes, k));
  const opset = Math.max(minOpset, ...decoded.map((d) => d.opset));
  if (opset > MAX_OPSET) throw new GraphError(`opset ${opset} is above ${MAX_OPSET}, the newest supported`);
  const otherOpsets = mergeOtherOpsets(decoded);
  const irVersion = Math.max(irVersionFor(opset), ...decoded.map((d) => toNumber(d.model.irVersion)));

  const chain = {
    nodes: [] as NodeProto[],
    initializers: [] as TensorProto[],
    sparseInitializers: [] as NonNullable<GraphProto["sparseInitializer"]>,
    valueInfo: [] as ValueInfoProto[],
  };
  let current = input;
  let currentType: number = DT.FLOAT;
  let usesSigma = false;
  decoded.forEach((d, k) => {
    const { graph } = d;
    const initialized = new Set((graph.initializer ?? []).map((t) => t.name ?? ""));
    for (const s of graph.sparseInitializer ?? []) initialized.add(s.values?.name ?? "");
    const inputs = (graph.input ?? []).filter((v) => !initialized.has(v.name ?? ""));
    const sigmaName = sigmaInputs[k];
    const data = inputs.filter((v) => v.name !== sigmaName);
    if (data.length !== 1 || !data[0]?.name) {
      throw new GraphError(
        `${d.label} must take one data input${sigmaName ? ` besides its sigma input "${sigmaName}"` : ""}; it takes ${inputs.map((v) => v.name).join(", ") || "none"}`,
      );
    }
    const dataInput = data[0];
    checkType(d, dataInput, currentType);
    const wires = new Map<string, string>([[dataInput.name ?? "", current]]);
    if (sigmaName !== undefined) {
      const s = inputs.find((v) => v.name === sigmaName);
      if (!s) throw new GraphError(`${d.label} has no input "${sigmaName}" to take sigma`);
      checkType(d, s, DT.FLOAT);
      wires.set(sigmaName, sigma);
      usesSigma = true;
    }
    const prefix = `m${k}/`;
    renameGraph(graph, (name) => wires.get(name) ?? `${prefix}${name}`);
    let made = 0;
    chain.nodes.push(...upgradeNodes(graph.node ?? [], d.opset, opset, (hint) => `m${k}#${hint}_${made++}`));
    chain.initializers.push(...(graph.initializer ?? []));
    chain.sparseInitializers.push(...(graph.sparseInitializer ?? []));
    chain.valueInfo.push(...(graph.valueInfo ?? []));
    const out = graph.output?.[0];
    if (!out?.name) throw new GraphError(`${d.label} has no output`);
    current = out.name;
    currentType = out.type?.tensorType?.elemType ?? 0;
  });
  return { ...chain, output: current, opset, otherOpsets, irVersion, usesSigma };
}

function decode(bytes: Uint8Array, k: number): Decoded {
  const label = `model ${k} of the chain`;
  let model: ModelProto;
  try {
    model = P.ModelProto.decode(bytes);
  } catch (e) {
    throw new GraphError(`${label} is not an ONNX model: ${(e as Error).message}`);
  }
  const graph = model.graph;
  if (!graph) throw new GraphError(`${label} has no graph`);
  if ((model.functions ?? []).length > 0)
    throw new GraphError(`${label} has model-local functions, not supported`);
  const external = (graph.initializer ?? []).find(
    (t) => t.dataLocation === P.TensorProto.DataLocation.EXTERNAL,
  );
  if (external) throw new GraphError(`${label} keeps initializer "${external.name}" in an external file`);
  const imports = (model.opsetImport ?? []).filter((o) => isDefaultDomain(o.domain));
  const opset = Math.max(0, ...imports.map((o) => toNumber(o.version)));
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new GraphError(`${label} has opset ${opset}; supported opsets are ${MIN_OPSET} to ${MAX_OPSET}`);
  }
  return { model, graph, opset, label };
}

/** Other domains (ai.onnx.ml, com.microsoft, ...) cannot be upgraded: models must agree on them. */
function mergeOtherOpsets(decoded: readonly Decoded[]): Map<string, number> {
  const merged = new Map<string, number>();
  for (const d of decoded) {
    for (const o of d.model.opsetImport ?? []) {
      if (isDefaultDomain(o.domain)) continue;
      const domain = o.domain ?? "";
      const version = toNumber(o.version);
      const seen = merged.get(domain);
      if (seen !== undefined && seen !== version) {
        throw new GraphError(
          `models import domain "${domain}" at opsets ${seen} and ${version}; they must agree`,
        );
      }
      merged.set(domain, version);
    }
  }
  return merged;
}

function checkType(d: Decoded, v: ValueInfoProto, expected: number): void {
  const declared = v.type?.tensorType?.elemType ?? 0;
  if (declared !== 0 && expected !== 0 && declared !== expected) {
    const names = P.TensorProto.DataType as unknown as Record<number, string>;
    throw new GraphError(
      `${d.label}: input "${v.name}" is ${names[declared] ?? declared}, but is fed ${names[expected] ?? expected}`,
    );
  }
}

/** Renames every tensor and node name of a graph and its subgraphs; "" (an absent optional input) stays. */
function renameGraph(graph: GraphProto, rename: (name: string) => string): void {
  const r = (name: string | null | undefined) => (name ? rename(name) : "");
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map(r);
    node.output = (node.output ?? []).map(r);
    node.name = r(node.name);
    for (const a of node.attribute ?? []) {
      if (a.g) renameGraph(a.g, rename);
      for (const sub of a.graphs ?? []) renameGraph(sub, rename);
    }
  }
  for (const t of graph.initializer ?? []) t.name = r(t.name);
  for (const s of graph.sparseInitializer ?? []) {
    if (s.values) s.values.name = r(s.values.name);
    if (s.indices?.name) s.indices.name = r(s.indices.name);
  }
  for (const list of [graph.input, graph.output, graph.valueInfo]) {
    for (const v of list ?? []) v.name = r(v.name);
  }
}
