import { parentPort } from "node:worker_threads";
import { fillNoisy } from "../../core/host-noise.js";
import { NOISE } from "../../core/noise.js";
import type { NoiseAnswer, NoiseRequest } from "./protocol.js";
import { WasmGaussian } from "./wasm-gaussian.js";

// The noise thread: makes the noisy inputs of one batch per message, in order, and answers each.
const port = parentPort;
if (!port) throw new Error("the noise maker runs as a worker thread");
const wasm = new WasmGaussian();

port.on("message", (r: NoiseRequest) => {
  try {
    const size = r.x.length * r.count;
    const buffer = r.buffer && r.buffer.byteLength >= size * 4 ? r.buffer : new ArrayBuffer(size * 4);
    const inputs = new Float32Array(buffer, 0, size);
    if (r.version === NOISE) wasm.fillNoisy(inputs, r);
    else fillNoisy(inputs, r, r.version);
    const answer: NoiseAnswer = { id: r.id, inputs };
    port.postMessage(answer, [buffer]);
  } catch (e) {
    const answer: NoiseAnswer = { id: r.id, error: (e as Error).message };
    port.postMessage(answer);
  }
});
