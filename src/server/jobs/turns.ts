/**
 * Queued job ids in one first-in, first-out line per tenant, served in turn (round robin, a job at
 * a time): every tenant with jobs waiting starts one before any starts a second. So a tenant's
 * backlog delays another tenant's next job by at most one job per tenant waiting, not by the whole
 * backlog. The embedded queue's waiting line; Redis holds the same lines for BullMQ (redis-turns.ts).
 */
export class Turns {
  /** A Map keeps insertion order: the tenant first in it is served next, then goes to the back. */
  private readonly lines = new Map<string, string[]>();

  push(owner: string, id: string): void {
    const line = this.lines.get(owner);
    if (line) line.push(id);
    else this.lines.set(owner, [id]);
  }

  /** The next job to start: the first of the line whose turn it is. */
  next(): string | undefined {
    const first = this.lines.entries().next();
    if (first.done) return undefined;
    const [owner, line] = first.value;
    const id = line.shift();
    this.lines.delete(owner);
    if (line.length > 0) this.lines.set(owner, line);
    return id;
  }

  /** Takes `id` out of `owner`'s line; false when it was not there. */
  remove(owner: string, id: string): boolean {
    const line = this.lines.get(owner);
    const i = line?.indexOf(id) ?? -1;
    if (!line || i < 0) return false;
    line.splice(i, 1);
    if (line.length === 0) this.lines.delete(owner);
    return true;
  }

  /** How many jobs `owner` has waiting. */
  size(owner: string): number {
    return this.lines.get(owner)?.length ?? 0;
  }

  /** The id accepted first of all that wait: ids are UUIDv7, so the least is the oldest. */
  oldest(): string | undefined {
    let oldest: string | undefined;
    for (const [first] of this.lines.values())
      if (first !== undefined && (oldest === undefined || first < oldest)) oldest = first;
    return oldest;
  }
}
