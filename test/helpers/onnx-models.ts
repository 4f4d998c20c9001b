import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import type { ManifestInput } from "../../src/core/manifest.js";

const P = onnxProto.onnx;
const FLOAT = P.TensorProto.DataType.FLOAT;

/**
 * A linear classifier: logits = reshape(x, [N, D]) @ W + b, with W given as D rows of C weights.
 * Its argmax regions are polyhedra, so smoothed predictions and certified radii are known exactly.
 */
export function linearModel(weights: number[][], bias: number[], inputShape: number[]): Uint8Array {
  const dim = weights.length;
  const classes = bias.length;
  const tensor = (name: string, dims: number[], values: number[]) =>
    P.TensorProto.create({ name, dims, dataType: FLOAT, floatData: values });
  const graph = P.GraphProto.create({
    name: "linear",
    initializer: [
      tensor("W", [dim, classes], weights.flat()),
      tensor("b", [classes], bias),
      P.TensorProto.create({
        name: "flat",
        dims: [2],
        dataType: P.TensorProto.DataType.INT64,
        int64Data: [-1, dim],
      }),
    ],
    node: [
      P.NodeProto.create({ opType: "Reshape", input: ["x", "flat"], output: ["x2"] }),
      P.NodeProto.create({ opType: "MatMul", input: ["x2", "W"], output: ["xw"] }),
      P.NodeProto.create({ opType: "Add", input: ["xw", "b"], output: ["logits"] }),
    ],
    input: [valueInfo("x", ["N", ...inputShape])],
    output: [valueInfo("logits", ["N", classes])],
  });
  return encode(graph);
}

/** A binary linear classifier: class 1 where w.x + b > 0. */
export function halfSpaceModel(w: number[], b: number, inputShape: number[]): Uint8Array {
  return linearModel(
    w.map((wi) => [0, wi]),
    [0, b],
    inputShape,
  );
}

function valueInfo(name: string, dims: (number | string)[]) {
  return P.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function encode(graph: InstanceType<typeof P.GraphProto>): Uint8Array {
  const model = P.ModelProto.create({
    irVersion: 8,
    producerName: "dualrs-tests",
    opsetImport: [{ domain: "", version: 17 }],
    graph,
  });
  return P.ModelProto.encode(model).finish();
}

/** Writes models named by sha256 and a manifest into `dir`, as a zoo folder. */
export async function writeCertifier(
  dir: string,
  manifest: Omit<ManifestInput, "models" | "schemaVersion">,
  models: Record<string, { bytes: Uint8Array; sigmaInput?: string }>,
): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const entries: ManifestInput["models"] = {};
  const digests: Record<string, string> = {};
  for (const [name, { bytes, sigmaInput }] of Object.entries(models)) {
    const digest = createHash("sha256").update(bytes).digest("hex");
    await writeFile(join(dir, `${digest}.onnx`), bytes);
    entries[name] = { file: `${digest}.onnx`, ...(sigmaInput ? { sigmaInput } : {}) };
    digests[name] = digest;
  }
  await writeFile(
    join(dir, `${manifest.id}.json`),
    JSON.stringify({ schemaVersion: 1, ...manifest, models: entries }),
  );
  return digests;
}
