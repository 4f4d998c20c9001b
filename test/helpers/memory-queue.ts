import { certifyInput } from "../../src/core/certifier.js";
import { loadCertifier } from "../../src/runtime/certifier.js";
import type { ModelStore } from "../../src/runtime/model-store.js";
import {
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobQueue,
  TERMINAL,
} from "../../src/server/jobs/types.js";

/** Stand-in until the embedded queue lands: runs real certifications in process, one at a time. */
export function memoryQueue(store: ModelStore): JobQueue {
  const jobs: Job[] = [];
  const keys = new Map<string, { fingerprint: string; id: string | null }>();
  const aborts = new Map<string, AbortController>();
  const waiters = new Set<() => void>();
  let chain = Promise.resolve();
  let n = 0;
  const notify = () => {
    for (const w of waiters) w();
  };
  const run = async (job: Job) => {
    if (job.status !== "queued") return;
    const controller = new AbortController();
    aborts.set(job.id, controller);
    job.status = "running";
    job.startedAt = new Date().toISOString();
    notify();
    try {
      const c = await loadCertifier(store, job.spec.certifier, { providers: ["cpu"] });
      const b = Buffer.from(job.spec.input.data, "base64");
      const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      try {
        job.certificate = await certifyInput(c, x, job.spec.parameters, {
          signal: controller.signal,
          onProgress: (p) => {
            job.progress = p;
          },
        });
        job.status = "succeeded";
      } finally {
        await c.close();
      }
    } catch (e) {
      job.status = controller.signal.aborted ? "canceled" : "failed";
      if (job.status === "failed")
        job.error = { type: "/problems/failed", title: "Failed", detail: String(e) };
    }
    job.finishedAt = new Date().toISOString();
    notify();
  };
  return {
    async submit(spec, options) {
      const key = options.idempotencyKey;
      if (key !== undefined) {
        const seen = keys.get(key);
        if (seen) {
          if (seen.fingerprint !== options.fingerprint) throw new IdempotencyMismatchError("mismatch");
          if (seen.id === null) throw new IdempotencyInFlightError("in flight");
          const job = jobs.find((j) => j.id === seen.id) as Job;
          return { job: structuredClone(job), replayed: true };
        }
        keys.set(key, { fingerprint: options.fingerprint, id: null });
        await new Promise((r) => setTimeout(r, 20));
      }
      const job: Job = {
        id: `job${String(n++).padStart(6, "0")}`,
        status: "queued",
        spec,
        progress: { done: 0, total: 0 },
        createdAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        certificate: null,
        error: null,
        cancelRequested: false,
        deliveries: [],
      };
      jobs.push(job);
      if (key !== undefined) keys.set(key, { fingerprint: options.fingerprint, id: job.id });
      chain = chain.then(() => run(job));
      return { job: structuredClone(job), replayed: false };
    },
    async get(id) {
      const job = jobs.find((j) => j.id === id);
      return job ? structuredClone(job) : null;
    },
    async list({ cursor, limit, status }) {
      const all = [...jobs].reverse().filter((j) => !status || j.status === status);
      const start = cursor ? all.findIndex((j) => j.id < cursor) : 0;
      const page = start < 0 ? [] : all.slice(start, start + limit);
      const more = start >= 0 && start + limit < all.length;
      return { jobs: structuredClone(page), nextCursor: more ? (page.at(-1)?.id ?? null) : null };
    },
    async cancel(id) {
      const job = jobs.find((j) => j.id === id);
      if (!job) return null;
      if (!TERMINAL.includes(job.status)) {
        job.cancelRequested = true;
        if (job.status === "queued") {
          job.status = "canceled";
          job.finishedAt = new Date().toISOString();
        }
        aborts.get(id)?.abort();
      }
      return structuredClone(job);
    },
    async wait(id, timeoutMs) {
      const done = () => {
        const j = jobs.find((x) => x.id === id);
        return !j || TERMINAL.includes(j.status);
      };
      if (!done()) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(finish, timeoutMs);
          function finish() {
            clearTimeout(t);
            waiters.delete(check);
            resolve();
          }
          function check() {
            if (done()) finish();
          }
          waiters.add(check);
        });
      }
      return this.get(id);
    },
    async counts() {
      const c = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
      for (const j of jobs) c[j.status]++;
      return c;
    },
    async readiness() {
      return { ready: true, detail: "in memory" };
    },
    async close() {
      for (const a of aborts.values()) a.abort();
      await chain;
    },
  };
}
