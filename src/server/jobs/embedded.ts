import { EventEmitter } from "node:events";
import type { JobQueue } from "../contract/jobs.js";
import { createDispatcher, type Dispatcher, type WebhookOptions } from "../webhooks/dispatcher.js";
import { eventOf } from "../webhooks/payload.js";
import { JournalStore } from "./journal-store.js";
import { Lifecycle, terminal } from "./lifecycle.js";
import type { Lines, Notices, Stopper } from "./ports.js";
import { DEFAULT_RETENTION_MS } from "./record.js";
import { type RunnerSettings, runnerOf } from "./runner.js";
import { Runs } from "./runs.js";

/** `store`, `concurrency` (jobs at once, default 1), `threads`, `providers`, `noise`: for the runner this queue makes unless given one. */
export interface EmbeddedQueueOptions extends RunnerSettings {
  /** Where the journal lives (`<dataDir>/jobs.journal`). */
  dataDir: string;
  webhooks?: WebhookOptions | undefined;
  /** Finished jobs (and their idempotency keys) are forgotten this long after they end. Default 7 days. */
  retentionMs?: number | undefined;
  /** How often jobs past their retention are looked for and dropped from the journal. Default 1 minute. */
  expireEveryMs?: number | undefined;
  /** `close()` lets running jobs finish this long before handing them back. Default 10 s. */
  drainMs?: number | undefined;
  /** The journal is compacted once it has this many lines and four per job. Default 1000. */
  compactAfter?: number | undefined;
  /** Tenants' shares of the workers (turns.ts); a tenant not named has weight 1. */
  weights?: Readonly<Record<string, number>> | undefined;
}

/**
 * The in-process queue: `concurrency` jobs at once on a thread pool; tenants take turns by the draws
 * their jobs ask for, and each tenant's jobs start in the order they came (turns.ts). Every accepted
 * job and every change of state is journaled (journal-store.ts), so that a restart finishes what was
 * accepted (queued and running jobs run again; a certificate is a pure function of its input,
 * parameters, seed and models). The lifecycle itself is lifecycle.ts's, as on Redis.
 */
export async function createEmbeddedQueue(options: EmbeddedQueueOptions): Promise<JobQueue> {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const compactAfter = options.compactAfter ?? 1000;
  const store = await JournalStore.open({ ...options, retentionMs, compactAfter });
  const concurrency = options.concurrency ?? 1;
  const runner = runnerOf({ ...options, concurrency });
  const dispatcher = createDispatcher(
    options.webhooks ?? {},
    (id, delivery) => store.addDelivery(id, delivery),
    (id) => store.has(id),
  );
  const notices = embeddedNotices(dispatcher);
  const lines: Lines = { withdraw: (job) => store.withdraw(job), feed: async () => pump() };
  const stopper: Stopper = { stop: async (id) => runs.stop(id, "cancel") };
  const lifecycle = new Lifecycle({ store, lines, idempotency: store, notices, stopper, retentionMs });
  const runs = new Runs(lifecycle, store, runner, { progressIntervalMs: 0 });
  const running = new Set<Promise<unknown>>();

  // A job stopped by a shutdown stays running in the journal, and runs again at the next start.
  function pump(): void {
    while (!lifecycle.closing && runs.size < concurrency) {
      const id = store.next();
      if (id === undefined) return;
      const done = runs.run(id).finally(() => {
        running.delete(done);
        pump();
      });
      running.add(done);
    }
  }

  // Retention is kept on disk too, and on time: once a job is past it, the journal is rewritten
  // without it, whether or not more jobs come.
  const expiry = setInterval(() => {
    if (!lifecycle.closing) void lifecycle.expire().catch(() => {});
  }, options.expireEveryMs ?? 60_000);
  expiry.unref();

  resumeDeliveries(store, dispatcher);
  if (options.warm?.length) runner.warm(options.warm).catch(() => {});
  pump();

  return {
    ...lifecycle.shared(),
    ...store.reads(),
    async readiness() {
      if (lifecycle.closing) return { ready: false, detail: "shutting down" };
      const r = runner.readiness();
      return { ready: r.ready, detail: `embedded queue, ${concurrency} at once; ${r.detail}` };
    },
    async close() {
      if (lifecycle.closing) return;
      lifecycle.closing = true;
      clearInterval(expiry);
      await runs.drain(options.drainMs ?? 10_000, Promise.all(running));
      if (!options.runner) await runner.close();
      await dispatcher.close();
      await store.close();
    },
  };
}

/** Webhooks by the in-process dispatcher; waiters on this process alone. */
function embeddedNotices(dispatcher: Dispatcher): Notices {
  const changes = new EventEmitter().setMaxListeners(0);
  return {
    deliver: async (job, event) => dispatcher.dispatch(job, event),
    finished: async (job) => void changes.emit(job.id),
    watch(id, onFinished) {
      changes.on(id, onFinished);
      return () => changes.off(id, onFinished);
    },
  };
}

/**
 * Deliveries owed when the process stopped go on: a retry that was waiting, or the final event of
 * a job that finished (or was canceled just now) before its first attempt was made.
 */
function resumeDeliveries(store: JournalStore, dispatcher: Dispatcher): void {
  for (const job of store.all()) {
    const event = terminal(job.status) ? eventOf(job.status) : null;
    if (event) dispatcher.resume(job, event);
  }
}
