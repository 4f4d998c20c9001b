/**
 * A ResNet-sized ONNX classifier with random weights, for throughput only: a 3x3 stem, then three
 * stages of two residual blocks (two 3x3 convolutions each; 64, 128, 256 channels, the later stages
 * halving the resolution), global average pooling and a linear layer. On 3x32x32 inputs: about
 * 4.3 M parameters and 0.5 GFLOP per sample, the size of a CIFAR ResNet-18's first three stages.
 */
import { attr, DT, GraphBuilder, P, tensor, valueInfo } from "../src/runtime/graph/proto.js";
import { rng } from "./fixtures/onnx-builder.js";

export const RESNET_SHAPE = [3, 32, 32] as const;

export function buildResnet(classes = 10, seed = 1): Uint8Array {
  const g = new GraphBuilder("r/");
  // Seeded, so that the graph is the same on every run.
  const r = rng(seed);
  const weight = (dims: number[], fanIn: number): string => {
    const bound = Math.sqrt(6 / fanIn); // He-uniform: activations keep their scale through ReLUs
    const size = dims.reduce((a, b) => a * b, 1);
    const name = g.fresh("w");
    g.initializers.push(
      tensor(
        name,
        DT.FLOAT,
        dims,
        Float32Array.from({ length: size }, () => (2 * r() - 1) * bound),
      ),
    );
    return name;
  };
  const conv = (x: string, cin: number, cout: number, stride: number): string =>
    g.op(
      "Conv",
      [x, weight([cout, cin, 3, 3], cin * 9), weight([cout], cin * 9 * 100)],
      [
        attr.ints("pads", [1, 1, 1, 1]),
        attr.ints("strides", [stride, stride]),
        attr.ints("kernel_shape", [3, 3]),
      ],
    );
  const relu = (x: string) => g.op("Relu", [x]);
  let x = relu(conv("x", 3, 64, 1));
  let channels = 64;
  for (const [out, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
  ] as const) {
    for (let block = 0; block < 2; block++) {
      const s = block === 0 ? stride : 1;
      const y = conv(relu(conv(x, channels, out, s)), out, out, 1);
      const shortcut =
        s === 1 && channels === out
          ? x
          : g.op("Conv", [x, weight([out, channels, 1, 1], channels)], [attr.ints("strides", [s, s])]);
      x = relu(g.op("Add", [y, shortcut]));
      channels = out;
    }
  }
  const pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])]);
  g.nodes.push({
    opType: "Gemm",
    input: [pooled, weight([classes, channels], channels), weight([classes], channels * 100)],
    output: ["logits"],
    name: "r/fc",
    attribute: [attr.int("transB", 1)],
  });
  return P.ModelProto.encode({
    irVersion: 8,
    producerName: "dualrs-bench",
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "resnet",
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo("x", DT.FLOAT, ["N", ...RESNET_SHAPE])],
      output: [valueInfo("logits", DT.FLOAT, ["N", classes])],
    },
  }).finish();
}
