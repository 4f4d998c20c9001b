import type { Progress } from "../../core/sampler.js";
import { execute } from "./execute.js";
import type { Lifecycle } from "./lifecycle.js";
import type { JobStore } from "./ports.js";
import { type Runner, throttled } from "./runner.js";

type Reason = "cancel" | "shutdown";

interface Active {
  controller: AbortController;
  reason: Reason | null;
}

export interface RunsOptions {
  /** Progress is written to the store at most this often (ms). */
  progressIntervalMs: number;
  /** Where cancels are not told directly (another process requested them), how often to look. */
  cancelPollMs?: number | undefined;
  /** Whether the job's cancel was requested, read cheaply; needed with `cancelPollMs`. */
  cancelRequested?: ((id: string) => Promise<boolean>) | undefined;
}

/**
 * The jobs this process runs, on one runner: each is started, run, and finished through the
 * lifecycle; a cancel or a shutdown stops it, and which of the two decides its end.
 */
export class Runs {
  private readonly active = new Map<string, Active>();

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly store: JobStore,
    private readonly runner: Runner,
    private readonly options: RunsOptions,
  ) {}

  get size(): number {
    return this.active.size;
  }

  /** Stops job `id` if it runs here; the first reason given decides how it ends. */
  stop(id: string, reason: Reason): void {
    const a = this.active.get(id);
    if (!a) return;
    a.reason ??= reason;
    a.controller.abort();
  }

  /** Lets running jobs go on until `closed` settles, stopping them for shutdown after `drainMs`. */
  async drain(drainMs: number, closed: Promise<unknown>): Promise<void> {
    const timer = setTimeout(() => {
      for (const id of this.active.keys()) this.stop(id, "shutdown");
    }, drainMs);
    await closed;
    clearTimeout(timer);
  }

  /**
   * Runs job `id` to its end; "handBack" when a shutdown stopped it, for the backend to queue it
   * again (its status is left for the backend to set). Taken at once, so that `size` counts it.
   */
  async run(id: string): Promise<"done" | "handBack"> {
    const a: Active = { controller: new AbortController(), reason: null };
    this.active.set(id, a);
    const { cancelPollMs, cancelRequested } = this.options;
    const look = () => cancelRequested?.(id).then((c) => c && this.stop(id, "cancel"));
    const poll = cancelPollMs ? setInterval(() => void look()?.catch(() => {}), cancelPollMs) : undefined;
    try {
      const job = await this.lifecycle.start(id);
      if (!job) return "done";
      await look();
      return await this.execute(id, job, a);
    } finally {
      clearInterval(poll);
      this.active.delete(id);
    }
  }

  private async execute(id: string, job: Parameters<typeof execute>[1], a: Active) {
    let latest: Progress = { done: 0, total: 0 };
    const write = throttled(
      (p) => void this.store.progress(id, p).catch(() => {}),
      this.options.progressIntervalMs,
    );
    const outcome = await execute(this.runner, job, {
      signal: a.controller.signal,
      onProgress: (p) => {
        latest = p;
        write(p);
      },
    });
    const progress = latest;
    if (outcome.status === "succeeded") {
      await this.lifecycle.finish(id, "succeeded", { certificate: outcome.certificate, progress });
    } else if (outcome.status === "failed") {
      await this.lifecycle.finish(id, "failed", { error: outcome.error, progress });
    } else if (a.reason === "cancel") {
      await this.lifecycle.finish(id, "canceled", { progress });
    } else {
      return "handBack";
    }
    return "done";
  }
}
