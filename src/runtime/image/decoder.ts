import type { Worker } from "node:worker_threads";
import type { RgbaImage } from "./decode.js";
import { ImageError } from "./errors.js";
import { MAX_IMAGE_PIXELS, readImageHeader } from "./header.js";
import type { DecodeAnswer, DecodeRequest } from "./protocol.js";
import { startImageWorker } from "./worker-entry.js";

export interface ImageDecoderOptions {
  /** Images with more pixels are refused from their header, before any decoding. */
  maxPixels?: number;
  /** A decode that takes longer is refused and its thread replaced (a pathological file). */
  timeoutMs?: number;
}

interface Pending {
  id: number;
  bytes: Uint8Array;
  resolve: (image: RgbaImage) => void;
  reject: (e: Error) => void;
}

/**
 * Decodes PNG and JPEG images on a thread of its own, one at a time in the order asked, so that a
 * large image never stalls the caller's event loop. The header is read on the caller's thread
 * first: an image over the pixel limit, or one whose header is broken, is refused at once, having
 * allocated nothing. The thread starts on first use, is replaced when it dies or overruns, and
 * does not keep the process alive while idle.
 */
export class ImageDecoder {
  readonly maxPixels: number;
  readonly timeoutMs: number;
  readonly #queue: Pending[] = [];
  #worker: Worker | null = null;
  #busy: Pending | null = null;
  #timer: NodeJS.Timeout | null = null;
  #nextId = 0;
  #closed = false;

  constructor(options: ImageDecoderOptions = {}) {
    this.maxPixels = options.maxPixels ?? MAX_IMAGE_PIXELS;
    this.timeoutMs = options.timeoutMs ?? 20_000;
  }

  /** The image's pixels; an ImageError when it is not a PNG or JPEG, too large, or broken. */
  decode(bytes: Uint8Array): Promise<RgbaImage> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the image decoder is closed"));
      readImageHeader(bytes, this.maxPixels);
      this.#queue.push({ id: this.#nextId++, bytes, resolve, reject });
      this.#next();
    });
  }

  /** Stops the thread; images still waiting are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#queue.splice(0)) p.reject(new Error("the image decoder is closed"));
    this.#busy?.reject(new Error("the image decoder is closed"));
    this.#busy = null;
    await this.#stop();
  }

  #next(): void {
    if (this.#busy) return;
    const next = this.#queue.shift();
    if (!next) {
      this.#worker?.unref();
      return;
    }
    this.#busy = next;
    const worker = this.#thread();
    worker.ref();
    this.#timer = setTimeout(() => {
      this.#finish(
        next,
        new ImageError(`cannot decode the image: it took longer than ${this.timeoutMs / 1000} s`),
      );
      void this.#stop();
    }, this.timeoutMs);
    const request: DecodeRequest = { id: next.id, bytes: next.bytes, maxPixels: this.maxPixels };
    worker.postMessage(request);
  }

  /** Settles the request in progress and moves on to the next one. */
  #finish(p: Pending, outcome: RgbaImage | Error): void {
    if (this.#busy !== p) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#busy = null;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
    queueMicrotask(() => this.#next());
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startImageWorker({
      // Pixels live in buffers outside this heap; a small heap keeps a runaway parser local.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    worker.on("message", (answer: DecodeAnswer) => {
      const p = this.#busy;
      if (!p || p.id !== answer.id) return;
      if ("error" in answer) this.#finish(p, new ImageError(answer.error));
      else this.#finish(p, { width: answer.width, height: answer.height, data: answer.data });
    });
    const lost = (e: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      const p = this.#busy;
      if (!p) return;
      // The thread only ever runs the decoder, so what killed it is the image it was decoding.
      const why =
        (e as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY"
          ? "it needs too much memory"
          : e.message;
      this.#finish(p, new ImageError(`cannot decode the image: ${why}`));
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`the decoder stopped (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  async #stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    await worker?.terminate();
  }
}

let shared: ImageDecoder | undefined;

/** The process's decoder, for callers that need no other limits than the defaults. */
export function imageDecoder(): ImageDecoder {
  shared ??= new ImageDecoder();
  return shared;
}
