import { decodeCursor, encodeCursor } from "../contract/cursor.js";
import {
  ANONYMOUS,
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobCounts,
  type JobPage,
  type JobStatus,
  type ListQuery,
  type WebhookDelivery,
} from "../contract/jobs.js";
import { Journal, type JournalRecord, journalFile } from "./journal.js";
import { terminal } from "./lifecycle.js";
import type { Idempotency, JobStore, QueueReads } from "./ports.js";
import { zeroCounts } from "./record.js";
import { costOf, Turns } from "./turns.js";

export interface JournalStoreOptions {
  dataDir: string;
  retentionMs: number;
  /** The journal is compacted once it has this many lines and four per job. */
  compactAfter: number;
  weights?: Readonly<Record<string, number>> | undefined;
}

const view = (job: Job | undefined): Job | null => (job ? structuredClone(job) : null);

/**
 * The embedded queue's jobs: in memory, every change journaled (journal.ts), and the tenants' lines
 * (turns.ts) the queued ones wait in. Idempotency keys are journaled with the job they made.
 */
export class JournalStore implements JobStore, Idempotency {
  readonly waiting = new Turns();
  private readonly jobs = new Map<string, Job>();
  private readonly keys = new Map<string, { fingerprint: string; id: string | null }>();
  private readonly keyOf = new Map<string, string>();
  /** Jobs of each owner being journaled: not in `waiting` yet, but counted toward `maxQueued`. */
  private readonly accepting = new Map<string, number>();
  private order: string[] = [];

  private constructor(
    private readonly journal: Journal,
    private readonly options: JournalStoreOptions,
  ) {}

  /** Opens the journal and replays it: the last line of a job wins. */
  static async open(options: JournalStoreOptions): Promise<JournalStore> {
    const { journal, records } = await Journal.open(journalFile(options.dataDir));
    const store = new JournalStore(journal, options);
    for (const r of records) store.replay(r);
    store.order = store.ordered();
    await store.resume();
    return store;
  }

  private replay(r: JournalRecord): void {
    // Journals written before jobs had owners: those jobs were anyone's, now the anonymous tenant's.
    r.job.owner ??= ANONYMOUS;
    this.jobs.set(r.job.id, r.job);
    if (r.key) {
      this.keys.set(r.key.key, { fingerprint: r.key.fingerprint, id: r.job.id });
      this.keyOf.set(r.job.id, r.key.key);
    }
  }

  /** What was queued or running is queued again, in order; what was being canceled is canceled. */
  private async resume(): Promise<void> {
    const canceled: Job[] = [];
    for (const job of this.order.map((id) => this.jobs.get(id))) {
      if (!job || terminal(job.status)) continue;
      if (job.cancelRequested) {
        Object.assign(job, { status: "canceled", finishedAt: new Date().toISOString() });
        canceled.push(job);
      } else {
        Object.assign(job, { status: "queued", startedAt: null, progress: { done: 0, total: 0 } });
        this.waiting.push(job.owner, job.id, this.costOf(job));
      }
    }
    for (const job of canceled) await this.save(job);
  }

  private ordered = () => [...this.jobs.keys()].sort();
  private costOf = (job: Job) => costOf(job.spec, this.options.weights?.[job.owner]);

  /** Every job, as held (not copied): for replaying deliveries owed at start. */
  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  /** The job to start next, in turn, taken out of its line; undefined when none waits. */
  next(): string | undefined {
    for (let id = this.waiting.next(); id !== undefined; id = this.waiting.next()) {
      if (this.jobs.get(id)?.status === "queued") return id;
    }
    return undefined;
  }

  /** Takes a queued job out of its line; always there, as nothing but this process takes it. */
  async withdraw(job: Job): Promise<boolean> {
    this.waiting.remove(job.owner, job.id);
    return true;
  }

  async get(id: string) {
    return view(this.jobs.get(id));
  }

  async create(job: Job, maxQueued: number, key?: { key: string; fingerprint: string }) {
    const owner = job.owner;
    const queued = this.waiting.size(owner) + (this.accepting.get(owner) ?? 0);
    if (maxQueued && queued >= maxQueued) return false;
    // The slot is taken before the first await, so that submissions at once cannot all pass the cap;
    // it is released in the same step that puts the accepted job in its line.
    this.accepting.set(owner, (this.accepting.get(owner) ?? 0) + 1);
    try {
      await this.journal.append({ job, key });
    } finally {
      const left = (this.accepting.get(owner) ?? 1) - 1;
      if (left > 0) this.accepting.set(owner, left);
      else this.accepting.delete(owner);
    }
    this.jobs.set(job.id, structuredClone(job));
    this.order.push(job.id);
    if (key) this.keyOf.set(job.id, key.key);
    this.waiting.push(owner, job.id, this.costOf(job));
    return true;
  }

  async move(id: string, status: JobStatus, expected: JobStatus[], patch: Partial<Job>) {
    const job = this.jobs.get(id);
    if (!job || !expected.includes(job.status)) return null;
    Object.assign(job, patch, { status });
    const saved = this.save(job).catch(() => {});
    // A final state is on disk before it is told; a start need not wait for the disk.
    if (terminal(status)) await saved;
    return view(job);
  }

  async update(id: string, patch: Partial<Job>) {
    const job = this.jobs.get(id);
    if (!job) return;
    Object.assign(job, patch);
    await this.save(job);
  }

  async progress(id: string, progress: Job["progress"]) {
    const job = this.jobs.get(id);
    if (job) job.progress = progress;
  }

  async addDelivery(id: string, delivery: WebhookDelivery) {
    const job = this.jobs.get(id);
    if (!job) return;
    job.deliveries.push(delivery);
    await this.save(job);
  }

  async forget(ids: string[]) {
    for (const id of ids) this.drop(id);
    // The journal still holds the jobs' lines, their inputs among them: rewrite it without them.
    this.journal.compact(this.snapshot);
  }

  /** Rewrites the journal without the jobs past their retention, if there are any. */
  async expire(before: number) {
    if (this.order.some((id) => this.expired(this.jobs.get(id), before))) this.journal.compact(this.snapshot);
  }

  async claim(key: string, fingerprint: string) {
    const seen = this.keys.get(key);
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        throw new IdempotencyMismatchError("this Idempotency-Key was used with another request body");
      }
      if (seen.id === null) {
        throw new IdempotencyInFlightError("a request with this Idempotency-Key is still being processed");
      }
      const job = this.jobs.get(seen.id);
      if (job) return structuredClone(job);
    }
    this.keys.set(key, { fingerprint, id: null });
    return null;
  }

  async enqueued(key: string, fingerprint: string, id: string) {
    if (this.jobs.has(id)) this.keys.set(key, { fingerprint, id });
  }

  async release(key: string) {
    this.keys.delete(key);
  }

  reads(): QueueReads {
    return {
      get: (id) => this.get(id),
      list: async (query) => this.list(query),
      counts: async (owner) => this.counts(owner),
      oldestQueued: async () => {
        const id = this.waiting.oldest();
        return id === undefined ? null : this.get(id);
      },
      queuedByTenant: async () => this.waiting.sizes(),
    };
  }

  private list({ cursor, limit, status, owner }: ListQuery): JobPage {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const page: Job[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const id = this.order[i] as string;
      if (after !== null && id >= after) continue;
      const job = this.jobs.get(id);
      if (!job || (status && job.status !== status) || (owner && job.owner !== owner)) continue;
      if (page.length === limit) return { jobs: page, nextCursor: encodeCursor(page.at(-1)?.id ?? id) };
      page.push(structuredClone(job));
    }
    return { jobs: page, nextCursor: null };
  }

  private counts(owner?: string): JobCounts {
    const counts = zeroCounts();
    for (const job of this.jobs.values())
      if (owner === undefined || job.owner === owner) counts[job.status]++;
    return counts;
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  private expired(job: Job | undefined, horizon: number): boolean {
    return job?.finishedAt != null && terminal(job.status) && Date.parse(job.finishedAt) < horizon;
  }

  /** Forgets a job and its idempotency key; the next compaction leaves its lines out. */
  private drop(id: string): void {
    this.jobs.delete(id);
    const key = this.keyOf.get(id);
    if (key) this.keys.delete(key);
    this.keyOf.delete(id);
  }

  private readonly snapshot = (): JournalRecord[] => {
    const horizon = Date.now() - this.options.retentionMs;
    for (const id of this.order) if (this.expired(this.jobs.get(id), horizon)) this.drop(id);
    this.order = this.order.filter((id) => this.jobs.has(id));
    return this.order.flatMap((id) => {
      const job = this.jobs.get(id);
      const key = this.keyOf.get(id);
      const fingerprint = key ? this.keys.get(key)?.fingerprint : undefined;
      if (!job) return [];
      return [{ job, ...(key && fingerprint ? { key: { key, fingerprint } } : {}) }];
    });
  };

  /** Journals a job's new state; the journal is compacted once it holds far more lines than jobs. */
  private async save(job: Job): Promise<void> {
    await this.journal.append({ job });
    const most = Math.max(this.options.compactAfter, 4 * this.jobs.size);
    if (this.journal.lines > most) this.journal.compact(this.snapshot);
  }
}
