import type { Worker } from "node:worker_threads";
import type { DrawBatch } from "../../core/model.js";
import type { NoiseVersion } from "../../core/noise.js";
import type { NoiseAnswer, NoiseRequest } from "./protocol.js";
import { startNoiseWorker } from "./worker-entry.js";

interface Pending {
  resolve: (inputs: Float32Array) => void;
  reject: (e: Error) => void;
}

/** Buffers kept for reuse: one in use, one being made, one spare. */
const SPARES = 3;

/**
 * Makes noisy inputs on a thread of its own, so that a batch's noise is made while the batch
 * before it runs through the model (onnxruntime's run holds the caller's thread). Requests are
 * answered in order; the buffers go back and forth by transfer, never copied. The thread starts on
 * first use, is started again if it dies, and does not keep the process alive while idle.
 */
export class NoiseMaker {
  readonly #pending = new Map<number, Pending>();
  readonly #spares: ArrayBuffer[] = [];
  #worker: Worker | null = null;
  #nextId = 0;
  #closed = false;

  /** The noisy inputs x + sigma * eps of the draws of b (fillNoisy's bits). */
  make(b: DrawBatch, version: NoiseVersion): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the noise maker is closed"));
      const id = this.#nextId++;
      const size = b.x.length * b.count;
      const buffer = this.#spare(size);
      const request: NoiseRequest = {
        id,
        x: b.x,
        sigma: b.sigma,
        seed: b.seed,
        stream: b.stream,
        first: b.first,
        count: b.count,
        version,
        buffer,
      };
      const worker = this.#thread();
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(request, buffer ? [buffer] : []);
    });
  }

  /** A buffer of `size` floats for inputs, a spare one where one is large enough. */
  buffer(size: number): Float32Array {
    return new Float32Array(this.#spare(size) ?? new ArrayBuffer(size * 4), 0, size);
  }

  /** Gives the buffer of inputs that are no longer needed back for reuse; the largest are kept. */
  release(inputs: Float32Array): void {
    const buffer = inputs.buffer;
    if (!(buffer instanceof ArrayBuffer) || this.#spares.includes(buffer)) return;
    this.#spares.push(buffer);
    // A small batch's buffer must not crowd out the full batches' ones, which every batch can use.
    this.#spares.sort((a, b) => b.byteLength - a.byteLength);
    this.#spares.length = Math.min(this.#spares.length, SPARES);
  }

  /** Stops the thread; requests still open are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#fail(new Error("the noise maker is closed"));
    this.#spares.length = 0;
    const worker = this.#worker;
    this.#worker = null;
    await worker?.terminate();
  }

  /** A spare buffer that holds `size` floats, taken from the spares, or null. */
  #spare(size: number): ArrayBuffer | null {
    const at = this.#spares.findIndex((s) => s.byteLength >= size * 4);
    return at >= 0 ? (this.#spares.splice(at, 1)[0] ?? null) : null;
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startNoiseWorker();
    worker.on("message", (answer: NoiseAnswer) => {
      const p = this.#pending.get(answer.id);
      if (!p) return;
      this.#pending.delete(answer.id);
      if (this.#pending.size === 0) worker.unref();
      if ("error" in answer) p.reject(new Error(answer.error));
      else p.resolve(answer.inputs);
    });
    const lost = (e: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#fail(e);
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`the noise thread stopped (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  #fail(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }
}
