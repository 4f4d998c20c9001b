import { parentPort, workerData } from "node:worker_threads";
import type { Manifest } from "../../core/manifest.js";
import { NOISE } from "../../core/noise.js";
import { loadCertifier, type RuntimeCertifier } from "../certifier.js";
import type { ModelStore } from "../model-store.js";
import type { FromThread, ThreadData, ToThread } from "./protocol.js";

/**
 * A certification thread: it counts batches of draws, and onnxruntime's `session.run()` blocks its
 * event loop here, not the server's (the pool's owner, on the main thread, runs the algorithm and spreads
 * the batches over the threads). Certifiers are loaded once and reused; the model store stays in
 * the main thread and is reached through messages, so any store (a folder, S3 with its cache)
 * serves every thread.
 */

const port = parentPort;
if (!port) throw new Error("thread.ts runs as a worker thread");
const data = workerData as ThreadData;
const send = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let nextReq = 0;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function call(method: "loadManifest" | "readModel", args: unknown[]): Promise<unknown> {
  const req = nextReq++;
  return new Promise((resolve, reject) => {
    pending.set(req, { resolve, reject });
    send({ type: "store", req, method, args } as FromThread);
  });
}

const store: ModelStore = {
  location: "main thread",
  listManifests: () => Promise.reject(new Error("not available in a certification thread")),
  loadManifest: (ref) => call("loadManifest", [ref]) as Promise<Manifest>,
  readModel: (file, ref) => call("readModel", [file, ref]) as Promise<Uint8Array>,
};

const certifiers = new Map<string, Promise<RuntimeCertifier>>();

function certifier(id: string): Promise<RuntimeCertifier> {
  let c = certifiers.get(id);
  if (!c) {
    c = loadCertifier(store, id, {
      providers: data.providers,
      noise: data.noise,
      threads: data.threads,
      noiseVersion: data.noiseVersion,
    });
    // A failed load is retried by the next job rather than remembered.
    c.catch(() => certifiers.delete(id));
    certifiers.set(id, c);
  }
  return c;
}

const errorInfo = (e: unknown) => {
  const error = e instanceof Error ? e : new Error(String(e));
  return { name: error.name, message: error.message };
};

/** Counts one batch on a chain of a certifier, loading the certifier first if need be. */
async function batch(m: Extract<ToThread, { type: "batch" }>): Promise<void> {
  try {
    const c = await certifier(m.certifier);
    const model = m.chain === "estimator" ? c.estimator : c.options[m.chain];
    if (!model) throw new Error(`certifier "${m.certifier}" has no chain ${m.chain}`);
    const counts = await model.countBatch(m.batch);
    send({ type: "counts", id: m.id, counts, noise: c.noise ?? NOISE }, [counts.buffer as ArrayBuffer]);
  } catch (e) {
    send({ type: "failed", id: m.id, error: errorInfo(e) });
  }
}

async function load(m: Extract<ToThread, { type: "load" }>): Promise<void> {
  try {
    await certifier(m.certifier);
    send({ type: "loaded", id: m.id });
  } catch (e) {
    send({ type: "failed", id: m.id, error: errorInfo(e) });
  }
}

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "batch":
      void batch(m);
      break;
    case "load":
      void load(m);
      break;
    case "close":
      void Promise.allSettled([...certifiers.values()].map(async (c) => (await c).close())).then(() =>
        process.exit(0),
      );
      break;
    case "store": {
      const p = pending.get(m.req);
      pending.delete(m.req);
      if (!p) break;
      if (m.ok) p.resolve(m.value);
      else p.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
      break;
    }
  }
});
