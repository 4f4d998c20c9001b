import { parentPort } from "node:worker_threads";
import { decodeImageSync } from "./decode.js";
import type { DecodeAnswer, DecodeRequest } from "./protocol.js";

// The image decoder's thread: decodes one image per message, in order, and answers each.
const port = parentPort;
if (!port) throw new Error("the image decoder runs as a worker thread");

port.on("message", ({ id, bytes, maxPixels }: DecodeRequest) => {
  let answer: DecodeAnswer;
  try {
    const image = decodeImageSync(bytes, maxPixels);
    // A small decoded buffer may be a slice of Node's shared pool, which cannot be transferred.
    const whole = image.data.byteOffset === 0 && image.data.byteLength === image.data.buffer.byteLength;
    const data = whole ? image.data : image.data.slice();
    answer = { id, width: image.width, height: image.height, data };
    port.postMessage(answer, [data.buffer as ArrayBuffer]);
  } catch (e) {
    answer = { id, error: (e as Error).message };
    port.postMessage(answer);
  }
});
