import { type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Job } from "../contract/jobs.js";

/** One line of the journal: a job's state after a change, and the idempotency key it was created under. */
export interface JournalRecord {
  job: Job;
  key?: { key: string; fingerprint: string } | undefined;
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * An append-only file of JSON lines, one per change of a job. `append` resolves once its line is
 * on disk (fdatasync); lines that arrive while a sync runs share the next one (group commit), so
 * many submissions cost few syncs. `compact` rewrites the file to one line per live job.
 */
export class Journal {
  private pending: Pending[] = [];
  private compaction: (() => JournalRecord[]) | null = null;
  private flushing: Promise<void> | null = null;
  /** Lines in the file, for deciding when to compact. */
  lines: number;

  private constructor(
    private readonly file: string,
    private handle: FileHandle,
    lines: number,
  ) {
    this.lines = lines;
  }

  /**
   * Opens (or creates) the journal at `file` and reads its records, oldest first. A torn last line
   * (the process died mid-write, before that change was acknowledged) is cut off, and `log` says so.
   */
  static async open(
    file: string,
    log: (line: string) => void = (line) => process.stderr.write(`dualrs: ${line}\n`),
  ): Promise<{ journal: Journal; records: JournalRecord[] }> {
    await mkdir(dirname(file), { recursive: true });
    const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return Buffer.alloc(0);
      throw e;
    });
    const complete = bytes.lastIndexOf(0x0a) + 1;
    const records: JournalRecord[] = [];
    for (const line of bytes.subarray(0, complete).toString("utf8").split("\n")) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch {
        // Complete lines are whole records; one that still does not parse is skipped, not fatal.
      }
    }
    const handle = await open(file, "a");
    if (complete < bytes.length) {
      // Appended to, the fragment would swallow the next record's start and make it unreadable.
      try {
        await handle.truncate(complete);
        await handle.datasync();
      } catch (e) {
        await handle.close();
        throw e;
      }
      log(`journal ${file}: dropped ${bytes.length - complete} bytes of a torn last record`);
    }
    // A new file's name is durable only once its folder is synced.
    if (bytes.length === 0) await syncDir(file);
    return { journal: new Journal(file, handle, records.length), records };
  }

  append(record: JournalRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, resolve, reject });
      this.kick();
    });
  }

  /** Replaces the file by `snapshot()`'s records, taken when no append is half-written. */
  compact(snapshot: () => JournalRecord[]): void {
    this.compaction = snapshot;
    this.kick();
  }

  /** Waits for every append, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.handle.close();
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0 || this.compaction) this.kick();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (batch.length > 0) {
      try {
        await this.handle.write(batch.map((p) => p.line).join(""));
        await this.handle.datasync();
        this.lines += batch.length;
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e as Error);
      }
    }
    const snapshot = this.compaction;
    this.compaction = null;
    if (snapshot) await this.rewrite(snapshot()).catch(() => {});
  }

  /** Write, sync, rename, sync the folder: a crash leaves either the old file or the new one. */
  private async rewrite(records: JournalRecord[]): Promise<void> {
    const tmp = `${this.file}.compact`;
    const out = await open(tmp, "w");
    try {
      await out.write(records.map((r) => `${JSON.stringify(r)}\n`).join(""));
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.file);
    await syncDir(this.file);
    await this.handle.close();
    this.handle = await open(this.file, "a");
    this.lines = records.length;
  }
}

async function syncDir(file: string): Promise<void> {
  const dir = await open(dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export function journalFile(dataDir: string): string {
  return join(dataDir, "jobs.journal");
}
