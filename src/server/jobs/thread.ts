import { parentPort, workerData } from "node:worker_threads";
import { certifyInput } from "../../core/certifier.js";
import type { Manifest } from "../../core/manifest.js";
import { type LoadedCertifier, loadCertifier } from "../../runtime/certifier.js";
import type { ModelStore } from "../../runtime/model-store.js";
import type { FromThread, ThreadData, ToThread } from "./protocol.js";

/**
 * A certification thread: onnxruntime's `session.run()` blocks its event loop here, not the
 * server's. Certifiers are loaded once and reused; the model store stays in the main thread and is
 * reached through messages, so any store (a folder, S3 with its cache) serves every thread.
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

const certifiers = new Map<string, Promise<LoadedCertifier>>();

function certifier(id: string): Promise<LoadedCertifier> {
  let c = certifiers.get(id);
  if (!c) {
    c = loadCertifier(store, id, { providers: data.providers, noise: data.noise, threads: data.threads });
    // A failed load is retried by the next job rather than remembered.
    c.catch(() => certifiers.delete(id));
    certifiers.set(id, c);
  }
  return c;
}

const running = new Map<number, AbortController>();

async function run(m: Extract<ToThread, { type: "run" }>): Promise<void> {
  const controller = new AbortController();
  running.set(m.id, controller);
  let last = 0;
  try {
    const c = await certifier(m.certifier);
    controller.signal.throwIfAborted();
    const certificate = await certifyInput(c, m.input, m.parameters, {
      signal: controller.signal,
      onProgress: ({ done, total }) => {
        const now = Date.now();
        if (done < total && now - last < data.progressIntervalMs) return;
        last = now;
        send({ type: "progress", id: m.id, done, total });
      },
    });
    send({ type: "done", id: m.id, certificate });
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    send({
      type: "failed",
      id: m.id,
      error: { name: error.name, message: error.message },
      aborted: controller.signal.aborted,
    });
  } finally {
    running.delete(m.id);
  }
}

async function load(m: Extract<ToThread, { type: "load" }>): Promise<void> {
  try {
    await certifier(m.certifier);
    send({ type: "done", id: m.id, certificate: null });
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    send({ type: "failed", id: m.id, error: { name: error.name, message: error.message }, aborted: false });
  }
}

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "run":
      void run(m);
      break;
    case "load":
      void load(m);
      break;
    case "close":
      void Promise.allSettled([...certifiers.values()].map(async (c) => (await c).close())).then(() =>
        process.exit(0),
      );
      break;
    case "cancel":
      running.get(m.id)?.abort();
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
