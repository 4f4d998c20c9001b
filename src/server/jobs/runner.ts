import type { Worker } from "node:worker_threads";
import type { Certificate } from "../../core/certificate.js";
import type { Progress } from "../../core/sampler.js";
import type { NoiseMode } from "../../runtime/certifier.js";
import type { ModelStore } from "../../runtime/model-store.js";
import type { ProviderConfig } from "../../runtime/providers.js";
import { abortError, JobFailure, jobErrorOf, jobProblemTypes } from "./errors.js";
import type { FromThread, ThreadData, ToThread } from "./protocol.js";
import { startThread } from "./thread-entry.js";
import type { JobSpec } from "./types.js";

export interface RunnerOptions {
  /** Where certifiers' manifests and models come from; read from the main thread only. */
  store: ModelStore;
  /** Jobs that run at once, each on its own thread. Default 1. */
  concurrency?: number | undefined;
  /** onnxruntime threads per job; default: onnxruntime's own (one per core). */
  threads?: number | undefined;
  providers?: ProviderConfig | undefined;
  noise?: NoiseMode | undefined;
  /** Progress reports per job are at most one per this many milliseconds. Default 200. */
  progressIntervalMs?: number | undefined;
  /** A canceled job whose thread does not stop within this many milliseconds loses its thread. Default 750. */
  cancelGraceMs?: number | undefined;
}

/** What a queue runs its jobs on: a runner of its caller's, or the settings to make its own. */
export interface RunnerSettings
  extends Pick<RunnerOptions, "store" | "concurrency" | "threads" | "providers" | "noise"> {
  /** Certifiers to load before readiness reports ready. */
  warm?: readonly string[] | undefined;
  /** A runner to use instead of making one; its owner closes it. */
  runner?: Runner | undefined;
}

/** The settings' runner, or a new one made from them. */
export function runnerOf(settings: RunnerSettings): Runner {
  const { store, concurrency, threads, providers, noise } = settings;
  return settings.runner ?? createRunner({ store, concurrency, threads, providers, noise });
}

export interface RunHooks {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

/** Runs certifications on a bounded pool of threads, so that inference never blocks the event loop. */
export interface Runner {
  readonly concurrency: number;
  /**
   * Certifies a job's input. Rejects with a `JobFailure` carrying the job's problem, or with an
   * AbortError when `signal` aborts (within about a second, whatever the thread is doing).
   */
  run(spec: JobSpec, hooks?: RunHooks): Promise<Certificate>;
  /** Loads certifiers in every thread ahead of the first job. */
  warm(certifiers: readonly string[]): Promise<void>;
  readiness(): { ready: boolean; detail: string };
  /** Stops every thread; runs still going reject with an AbortError. */
  close(): Promise<void>;
}

interface Task {
  resolve: (c: Certificate | null) => void;
  reject: (e: Error) => void;
  onProgress?: ((p: Progress) => void) | undefined;
}

/** A certification thread and what it was asked and has not answered yet. */
interface Thread {
  worker: Worker;
  tasks: Map<number, Task>;
  /** Asked and not answered, including tasks whose caller was already told the job stopped. */
  outstanding: Set<number>;
  /** No new work: it closes once every outstanding request is answered. */
  retiring: boolean;
  exited: Promise<void>;
}

/** One place in the pool; its thread is started on first use and replaced when lost. */
interface Slot {
  thread: Thread | null;
}

/** Decodes a job's base64 little-endian float32 input. */
export function decodeInput(data: string): Float32Array {
  const bytes = Buffer.from(data, "base64");
  const out = new Float32Array(Math.floor(bytes.length / 4));
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}

export function createRunner(options: RunnerOptions): Runner {
  const concurrency = options.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(`concurrency must be a positive integer, not ${concurrency}`);
  }
  const data: ThreadData = {
    providers: options.providers,
    noise: options.noise,
    threads: options.threads,
    progressIntervalMs: options.progressIntervalMs ?? 200,
  };
  const cancelGraceMs = options.cancelGraceMs ?? 750;
  const store = options.store;
  const slots: Slot[] = Array.from({ length: concurrency }, () => ({ thread: null }));
  const idle: Slot[] = [...slots];
  const waiting: ((slot: Slot) => void)[] = [];
  let nextId = 0;
  let closed = false;
  let warmed: { ready: boolean; detail: string } = { ready: true, detail: "certifiers load on first use" };

  const answerStore = async (worker: Worker, m: Extract<FromThread, { type: "store" }>) => {
    try {
      const value =
        m.method === "loadManifest"
          ? await store.loadManifest(m.args[0])
          : // A copy: the store may keep its own buffer, and this one moves to the thread.
            (await store.readModel(m.args[0], m.args[1])).slice();
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
  };

  // Terminating a thread inside onnxruntime's run() aborts the whole process: a thread is only
  // ever asked to close itself, between batches, once it has answered everything.
  const closeIfDone = (thread: Thread) => {
    if (thread.retiring && thread.outstanding.size === 0)
      thread.worker.postMessage({ type: "close" } satisfies ToThread);
  };
  const retire = (slot: Slot, thread: Thread) => {
    if (slot.thread === thread) slot.thread = null;
    thread.retiring = true;
    closeIfDone(thread);
  };
  const threads = new Set<Thread>();

  const start = (slot: Slot): Thread => {
    if (slot.thread) return slot.thread;
    const worker = startThread({ workerData: data });
    const thread: Thread = {
      worker,
      tasks: new Map(),
      outstanding: new Set(),
      retiring: false,
      exited: new Promise((resolve) => worker.once("exit", () => resolve())),
    };
    slot.thread = thread;
    threads.add(thread);
    worker.on("message", (m: FromThread) => {
      if (m.type === "store") {
        void answerStore(worker, m);
        return;
      }
      const task = thread.tasks.get(m.id);
      if (m.type === "progress") {
        task?.onProgress?.({ done: m.done, total: m.total });
        return;
      }
      thread.tasks.delete(m.id);
      thread.outstanding.delete(m.id);
      if (m.type === "done") task?.resolve(m.certificate);
      else task?.reject(m.aborted ? abortError() : new JobFailure(jobErrorOf(m.error)));
      closeIfDone(thread);
    });
    // A thread that died takes its tasks with it; its slot gets a fresh thread on next use.
    const lost = (detail: string) => {
      threads.delete(thread);
      if (slot.thread === thread) slot.thread = null;
      const error = new JobFailure({
        type: jobProblemTypes.internal,
        title: "Certification thread failed",
        detail,
      });
      for (const task of thread.tasks.values()) task.reject(error);
      thread.tasks.clear();
      thread.outstanding.clear();
    };
    worker.on("error", (e) => lost(e.message));
    worker.on("exit", (code) => lost(`the certification thread exited with code ${code}`));
    return thread;
  };

  const acquire = (): Promise<Slot> => {
    const slot = idle.shift();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (slot: Slot) => {
    const next = waiting.shift();
    if (next) next(slot);
    else idle.push(slot);
  };

  /** Sends one request to a slot's thread and waits for its answer. */
  const request = (
    slot: Slot,
    message: (id: number) => ToThread,
    hooks: RunHooks,
    transfer: ArrayBuffer[] = [],
  ): Promise<Certificate | null> => {
    const id = nextId++;
    const thread = start(slot);
    const signal = hooks.signal;
    return new Promise<Certificate | null>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        thread.worker.postMessage({ type: "cancel", id } satisfies ToThread);
        // The engine checks the signal between batches. A batch that runs on keeps its thread
        // busy, so the job ends now and the slot gets a fresh thread; the old one closes after it.
        grace = setTimeout(() => {
          const task = thread.tasks.get(id);
          if (!task) return;
          thread.tasks.delete(id);
          retire(slot, thread);
          task.reject(abortError());
        }, cancelGraceMs);
      };
      const settle = () => {
        signal?.removeEventListener("abort", onAbort);
        clearTimeout(grace);
      };
      if (signal?.aborted) {
        reject(abortError());
        return;
      }
      thread.tasks.set(id, {
        resolve: (c) => {
          settle();
          resolve(c);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
        onProgress: hooks.onProgress,
      });
      thread.outstanding.add(id);
      signal?.addEventListener("abort", onAbort, { once: true });
      thread.worker.postMessage(message(id), transfer);
    });
  };

  return {
    concurrency,
    async run(spec, hooks = {}) {
      if (closed) throw abortError();
      hooks.signal?.throwIfAborted();
      const slot = await acquire();
      try {
        const input = decodeInput(spec.input.data);
        const certificate = await request(
          slot,
          (id) => ({ type: "run", id, certifier: spec.certifier, input, parameters: spec.parameters }),
          hooks,
          [input.buffer as ArrayBuffer],
        );
        if (!certificate) throw new Error("a certification thread answered without a certificate");
        return certificate;
      } finally {
        release(slot);
      }
    },
    async warm(certifiers) {
      warmed = { ready: false, detail: `loading ${certifiers.join(", ")}` };
      try {
        await Promise.all(
          slots.flatMap((slot) =>
            certifiers.map((certifier) => request(slot, (id) => ({ type: "load", id, certifier }), {})),
          ),
        );
        warmed = {
          ready: true,
          detail: `${concurrency} thread(s), certifiers loaded: ${certifiers.join(", ")}`,
        };
      } catch (e) {
        const detail = e instanceof JobFailure ? e.problem.detail : String(e);
        warmed = { ready: false, detail: `cannot load certifiers: ${detail}` };
        throw e;
      }
    },
    readiness() {
      if (closed) return { ready: false, detail: "the runner is closed" };
      return warmed;
    },
    async close() {
      closed = true;
      for (const slot of slots) if (slot.thread) retire(slot, slot.thread);
      for (const thread of threads) {
        for (const id of thread.outstanding)
          thread.worker.postMessage({ type: "cancel", id } satisfies ToThread);
      }
      await Promise.all([...threads].map((t) => t.exited));
    },
  };
}
