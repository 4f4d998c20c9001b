import type { Certificate } from "../../core/certificate.js";
import { certifyResolved } from "../../core/certifier.js";
import type { Manifest } from "../../core/manifest.js";
import type { NoiseVersion } from "../../core/noise.js";
import type { Progress } from "../../core/sampler.js";
import type { NoiseMode } from "../../runtime/certifier.js";
import type { ModelStore } from "../../runtime/model-store.js";
import type { ProviderConfig } from "../../runtime/providers.js";
import { ThreadPool } from "../../runtime/threads/pool.js";
import type { JobSpec } from "../contract/jobs.js";
import { abortError, isAbortError, JobFailure, jobErrorFrom } from "./errors.js";
import { jobRun } from "./job-input.js";

/** The one decoding of a job's input, for those who certify a job's spec themselves. */
export { decodeJobInput } from "./job-input.js";

export interface RunnerOptions {
  /** Where certifiers' manifests and models come from; read from the main thread only. */
  store: ModelStore;
  /**
   * Jobs that run at once, and certification threads: each thread counts one batch at a time, and
   * a job's batches spread over every thread, so that one job alone uses them all. Default 1.
   */
  concurrency?: number | undefined;
  /** onnxruntime threads per certification thread; default: the cores divided among the threads. */
  threads?: number | undefined;
  providers?: ProviderConfig | undefined;
  noise?: NoiseMode | undefined;
  /** The noise generator; default: squares32 on a GPU provider, Philox4x32-10 on the CPU. */
  noiseVersion?: NoiseVersion | undefined;
  /** Progress reports per job are at most one per this many milliseconds. Default 200. */
  progressIntervalMs?: number | undefined;
  /** A canceled job's batch still running after this many milliseconds loses its thread. Default 750. */
  cancelGraceMs?: number | undefined;
}

/** What a queue runs its jobs on: a runner of its caller's, or the settings to make its own. */
export interface RunnerSettings
  extends Pick<RunnerOptions, "store" | "concurrency" | "threads" | "providers" | "noise" | "noiseVersion"> {
  /** Certifiers to load before readiness reports ready. */
  warm?: readonly string[] | undefined;
  /** A runner to use instead of making one; its owner closes it. */
  runner?: Runner | undefined;
}

/** The settings' runner, or a new one made from them. */
export function runnerOf(settings: RunnerSettings): Runner {
  const { store, concurrency, threads, providers, noise, noiseVersion } = settings;
  return settings.runner ?? createRunner({ store, concurrency, threads, providers, noise, noiseVersion });
}

export interface RunHooks {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
}

/**
 * Runs certifications: the algorithm on this thread, their batches of draws on a bounded pool of
 * threads (src/runtime/threads/pool.ts), so that inference never blocks the event loop.
 */
export interface Runner {
  readonly concurrency: number;
  /**
   * Certifies a job's input. Rejects with a `JobFailure` carrying the job's problem, or with an
   * AbortError as soon as `signal` aborts, whatever the threads are doing.
   */
  run(spec: JobSpec, hooks?: RunHooks): Promise<Certificate>;
  /** Loads certifiers in every thread ahead of the first job. */
  warm(certifiers: readonly string[]): Promise<void>;
  readiness(): { ready: boolean; detail: string };
  /** Stops every thread; runs still going reject with an AbortError. */
  close(): Promise<void>;
}

export function createRunner(options: RunnerOptions): Runner {
  const concurrency = options.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(`concurrency must be a positive integer, not ${concurrency}`);
  }
  const { store, providers, noise, threads, noiseVersion } = options;
  const settings = { providers, noise, threads, noiseVersion };
  const pool = new ThreadPool(store, settings, concurrency, options.cancelGraceMs ?? 750);
  const progressIntervalMs = options.progressIntervalMs ?? 200;
  const manifestOf = manifestCache(store);
  const { acquire, release } = slots(concurrency);
  let closed = false;
  let warmed: { ready: boolean; detail: string } = { ready: true, detail: "certifiers load on first use" };

  return {
    concurrency,
    async run(spec, hooks = {}) {
      if (closed) throw abortError();
      const signal = hooks.signal;
      signal?.throwIfAborted();
      await acquire();
      try {
        signal?.throwIfAborted();
        const manifest = await manifestOf(spec.certifier);
        const { x, p } = jobRun(spec, manifest);
        return await certifyResolved(pool.certifier(spec.certifier, manifest, signal), x, p, {
          signal,
          onProgress: hooks.onProgress && throttled(hooks.onProgress, progressIntervalMs),
        });
      } catch (e) {
        throw failureOf(e, signal);
      } finally {
        release();
      }
    },
    async warm(certifiers) {
      warmed = { ready: false, detail: `loading ${certifiers.join(", ")}` };
      try {
        await Promise.all(certifiers.map((c) => pool.load(c)));
        warmed = {
          ready: true,
          detail: `${concurrency} thread(s), certifiers loaded: ${certifiers.join(", ")}`,
        };
      } catch (e) {
        const failure = failureOf(e);
        warmed = { ready: false, detail: `cannot load certifiers: ${failure.message}` };
        throw failure;
      }
    },
    readiness() {
      if (closed) return { ready: false, detail: "the runner is closed" };
      return warmed;
    },
    async close() {
      closed = true;
      await pool.close();
    },
  };
}

/** A job's error as the runner reports it: an AbortError once canceled, else a JobFailure. */
function failureOf(e: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted || isAbortError(e)) return abortError();
  return e instanceof JobFailure ? e : new JobFailure(jobErrorFrom(e));
}

/** Manifests by certifier id, read once; one that cannot be read is tried again by the next job. */
function manifestCache(store: ModelStore): (id: string) => Promise<Manifest> {
  const manifests = new Map<string, Promise<Manifest>>();
  return (id) => {
    let m = manifests.get(id);
    if (!m) {
      m = store.loadManifest(id);
      m.catch(() => manifests.delete(id));
      manifests.set(id, m);
    }
    return m;
  };
}

/** `concurrency` places for jobs; one that ends hands its place to the next waiting, so none slips in between. */
function slots(concurrency: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async acquire(): Promise<void> {
      if (running < concurrency) running++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release(): void {
      const next = waiting.shift();
      if (next) next();
      else running--;
    },
  };
}

/** `onProgress` at most once per `intervalMs`, and always for the last report. */
export function throttled(onProgress: (p: Progress) => void, intervalMs: number): (p: Progress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (p.done < p.total && now - last < intervalMs) return;
    last = now;
    onProgress(p);
  };
}
