import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import type { LoadedCertifier } from "../../core/certifier.js";
import { estimatorRoutes, type Manifest } from "../../core/manifest.js";
import type { DrawBatch, NoisyClassifier } from "../../core/model.js";
import type { NoiseVersion } from "../../core/noise.js";
import type { ModelStore } from "../model-store.js";
import { abortError, ThreadLostError, ThreadTaskError } from "./errors.js";
import type { ChainRef, FromThread, ThreadData, ToThread } from "./protocol.js";
import { startThread } from "./start.js";

type Answer = Extract<FromThread, { type: "counts" | "loaded" }>;

/** A batch's class counts, and the noise generator its draws came from. */
interface Counted {
  counts: Uint32Array;
  noise: NoiseVersion;
}

/** A message for a thread, and who waits for its answer. */
interface Request {
  message: (id: number) => ToThread;
  resolve: (answer: Answer) => void;
  reject: (e: Error) => void;
}

/** A certification thread and what it was asked and has not answered yet. */
interface Thread {
  worker: Worker;
  outstanding: Map<number, Request>;
  /** The batch it counts now: one at a time, so that no batch waits behind a long one. */
  busy: Request | null;
  /** No new work: it closes once every outstanding request is answered. */
  retiring: boolean;
  exited: Promise<void>;
}

/** One place in the pool; its thread is started on first use and replaced when lost or retired. */
interface Slot {
  thread: Thread | null;
}

/**
 * Certification threads that count batches of draws, one batch per thread at a time, taken in the
 * order they were asked for: the batches of every running certificate share every thread.
 * onnxruntime's `run()` blocks the thread it runs on, so batches on different threads are what
 * run at once. The model store stays on the main thread and answers the threads' reads.
 */
export class ThreadPool {
  readonly #slots: Slot[];
  readonly #threads = new Set<Thread>();
  readonly #queue: Request[] = [];
  #nextId = 0;
  #closed = false;

  readonly data: ThreadData;

  constructor(
    private readonly store: ModelStore,
    data: ThreadData,
    size: number,
    /** A canceled batch still running after this long loses its thread to a fresh one. */
    private readonly cancelGraceMs: number,
  ) {
    this.#slots = Array.from({ length: size }, () => ({ thread: null }));
    // Unless told otherwise, the threads share the cores rather than each taking them all: one
    // job's batches run on every thread at once, and more threads than cores only contend.
    const threads =
      data.threads ?? (size > 1 ? Math.max(1, Math.floor(availableParallelism() / size)) : undefined);
    this.data = { ...data, threads };
  }

  get size(): number {
    return this.#slots.length;
  }

  /**
   * Class counts of `batch` on `chain` of `certifier`, and the noise generator they were drawn
   * with. Rejects with an AbortError at once when `signal` aborts, a ThreadTaskError when the engine
   * failed, a ThreadLostError when the thread died.
   */
  count(certifier: string, chain: ChainRef, batch: DrawBatch, signal?: AbortSignal): Promise<Counted> {
    return new Promise((resolve, reject) => {
      if (this.#closed || signal?.aborted) return reject(abortError());
      const onAbort = () => {
        const queued = this.#queue.indexOf(request);
        if (queued >= 0) this.#queue.splice(queued, 1);
        reject(abortError());
        // The batch may be running: past the grace its thread goes, and the slot gets a fresh one.
        const thread = [...this.#threads].find((t) => t.busy === request);
        if (thread) setTimeout(() => thread.busy === request && this.#retire(thread), this.cancelGraceMs);
      };
      const request: Request = {
        message: (id) => ({ type: "batch", id, certifier, chain, batch }),
        resolve: (answer) => {
          signal?.removeEventListener("abort", onAbort);
          if (answer.type === "counts") resolve({ counts: answer.counts, noise: answer.noise });
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(request);
      this.#pump();
    });
  }

  /**
   * Certifier `ref` (its `manifest`) as the engine sees it: its chains count batches on these
   * threads, as many at once as there are threads. `signal` cancels its batches.
   */
  certifier(ref: string, manifest: Manifest, signal?: AbortSignal): LoadedCertifier {
    // The threads resolve the providers, and so the default generator: the batches say which it is.
    let noise: NoiseVersion | undefined;
    const chain = (id: ChainRef, classes: number): NoisyClassifier => ({
      classes,
      parallelism: this.size,
      countBatch: async (batch) => {
        const counted = await this.count(ref, id, batch, signal);
        noise = counted.noise;
        return counted.counts;
      },
    });
    return {
      get noise() {
        return noise;
      },
      manifest,
      options: manifest.options.map((_, i) => chain(i, manifest.labels.length)),
      estimator: manifest.estimator ? chain("estimator", estimatorRoutes(manifest).length) : undefined,
      // Model files are named by their sha256; every thread checks each file against its name.
      digests: Object.fromEntries(
        Object.entries(manifest.models).map(([name, m]) => [name, m.file.slice(0, -".onnx".length)]),
      ),
    };
  }

  /** Loads `certifier` in every thread, ahead of its first batch. */
  async load(certifier: string): Promise<void> {
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((resolve, reject) => {
            const thread = slot.thread ?? this.#start(slot);
            this.#post(thread, {
              message: (id) => ({ type: "load", id, certifier }),
              resolve: () => resolve(),
              reject,
            });
          }),
      ),
    );
  }

  /** Refuses new batches, drops those not started, and waits for every thread to close. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const request of this.#queue.splice(0)) request.reject(abortError());
    for (const thread of this.#threads) this.#retire(thread);
    await Promise.all([...this.#threads].map((t) => t.exited));
  }

  /** Gives each idle thread the next batch in line. */
  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0 || this.#closed) return;
      const thread = slot.thread ?? this.#start(slot);
      if (thread.busy) continue;
      const request = this.#queue.shift() as Request;
      thread.busy = request;
      this.#post(thread, request);
    }
  }

  #post(thread: Thread, request: Request): void {
    const id = this.#nextId++;
    thread.outstanding.set(id, request);
    thread.worker.postMessage(request.message(id));
  }

  // Terminating a thread inside onnxruntime's run() aborts the whole process: a thread is only
  // ever asked to close itself, once it has answered everything.
  #closeIfDone(thread: Thread): void {
    if (thread.retiring && thread.outstanding.size === 0)
      thread.worker.postMessage({ type: "close" } satisfies ToThread);
  }

  #retire(thread: Thread): void {
    for (const slot of this.#slots) if (slot.thread === thread) slot.thread = null;
    thread.retiring = true;
    this.#closeIfDone(thread);
    this.#pump();
  }

  #start(slot: Slot): Thread {
    const worker = startThread({ workerData: this.data });
    const thread: Thread = {
      worker,
      outstanding: new Map(),
      busy: null,
      retiring: false,
      exited: new Promise((resolve) => worker.once("exit", () => resolve())),
    };
    slot.thread = thread;
    this.#threads.add(thread);
    worker.on("message", (m: FromThread) => {
      if (m.type === "store") return void this.#answerStore(worker, m);
      const request = thread.outstanding.get(m.id);
      thread.outstanding.delete(m.id);
      if (thread.busy === request) thread.busy = null;
      if (m.type === "failed") request?.reject(new ThreadTaskError(m.error));
      else request?.resolve(m);
      this.#closeIfDone(thread);
      this.#pump();
    });
    // A thread that died takes its requests with it; its slot gets a fresh thread on next use.
    const lost = (detail: string) => {
      if (!this.#threads.delete(thread)) return;
      for (const s of this.#slots) if (s.thread === thread) s.thread = null;
      const error = new ThreadLostError(detail);
      for (const request of thread.outstanding.values()) request.reject(error);
      thread.outstanding.clear();
      thread.busy = null;
      this.#pump();
    };
    worker.on("error", (e) => lost(e.message));
    worker.on("exit", (code) => lost(`the certification thread exited with code ${code}`));
    return thread;
  }

  async #answerStore(worker: Worker, m: Extract<FromThread, { type: "store" }>): Promise<void> {
    try {
      const value =
        m.method === "loadManifest"
          ? await this.store.loadManifest(m.args[0])
          : // A copy: the store may keep its own buffer, and this one moves to the thread.
            (await this.store.readModel(m.args[0], m.args[1])).slice();
      const transfer = value instanceof Uint8Array ? [value.buffer as ArrayBuffer] : [];
      worker.postMessage({ type: "store", req: m.req, ok: true, value } satisfies ToThread, transfer);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      worker.postMessage({
        type: "store",
        req: m.req,
        ok: false,
        error: { name: error.name, message: error.message },
      } satisfies ToThread);
    }
  }
}
