import * as ort from "onnxruntime-node";
import { composeClassifier, GRAPH_INPUTS, GRAPH_OUTPUTS } from "./graph/index.js";
import type { Normalization } from "./graph/preprocess.js";
import { createSession } from "./session.js";

/**
 * The width of the logits one model outputs, from one run on a mid-range input of `shape`: the
 * number of classes even where the model's signature leaves it symbolic. Throws what the model's
 * composition or run throws (a wrong input shape, an unsupported opset).
 */
export async function probeClasses(
  bytes: Uint8Array,
  shape: readonly number[],
  range: readonly [number, number],
  preprocess?: Normalization,
): Promise<number> {
  const model = composeClassifier([bytes], [], shape, { logits: true, preprocess });
  const session = await createSession(model, { providers: ["cpu"], threads: 1 });
  try {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(size).fill((range[0] + range[1]) / 2);
    const feeds = { [GRAPH_INPUTS.batch]: new ort.Tensor("float32", x, [1, ...shape]) };
    const logits = (await session.run(feeds, [GRAPH_OUTPUTS.logits]))[GRAPH_OUTPUTS.logits];
    const dims = logits?.dims ?? [];
    if (dims.length !== 2 || dims[0] !== 1) {
      throw new Error(`outputs [${dims.join(", ")}] for one input; expected logits [1, classes]`);
    }
    return dims[1] as number;
  } finally {
    await session.release();
  }
}
