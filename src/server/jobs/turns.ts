import type { JobSpec } from "../contract/jobs.js";

/**
 * What a job costs in the turns below: the draws it asks for, n0 + n per stage (the certifier's
 * defaults included, as resolved when it was accepted), over its tenant's `weight`
 * (TENANT_WEIGHTS), so that a tenant of weight 2 is served twice the draws of one of weight 1. A
 * dual certificate runs two stages, but every job of a certifier is counted alike, which is what
 * fairness between tenants needs.
 */
export const costOf = (spec: JobSpec, weight = 1): number => {
  const { n0 = 0, n = 0 } = spec.resolved?.parameters ?? spec.parameters;
  return Math.max(1, Math.round((n0 + n) / weight));
};

/**
 * Queued job ids in one first-in, first-out line per tenant, the tenants served by start-time fair
 * queuing (Goyal, Vin and Cheng, SIGCOMM 1996) over the draws their jobs ask for: the next job is
 * the first of the line whose tenant has been served the fewest draws, counted from when it last
 * joined, and a tenant joins at the virtual time of the job last started, so that waiting earns no
 * credit. With jobs of one size this is round robin; a tenant whose jobs draw ten times as many
 * samples gets a tenth as many turns. The embedded queue's waiting line; Redis holds the same
 * lines for BullMQ (redis-turns.ts).
 */
export class Turns {
  private readonly lines = new Map<string, { id: string; cost: number }[]>();
  /** Each tenant's virtual time: where its next job starts. */
  private readonly served = new Map<string, number>();
  /** The virtual time: where the job last started began. */
  private now = 0;

  push(owner: string, id: string, cost: number): void {
    const line = this.lines.get(owner);
    if (line) return void line.push({ id, cost });
    this.lines.set(owner, [{ id, cost }]);
    this.served.set(owner, Math.max(this.served.get(owner) ?? 0, this.now));
  }

  /** The next job to start, taken out of its line. */
  next(): string | undefined {
    let owner: string | undefined;
    let start = Number.POSITIVE_INFINITY;
    // Ties go to the tenant that joined first: a Map iterates in insertion order.
    for (const o of this.lines.keys()) {
      const s = this.served.get(o) ?? 0;
      if (s < start) [owner, start] = [o, s];
    }
    const line = owner === undefined ? undefined : this.lines.get(owner);
    const job = line?.shift();
    if (owner === undefined || !line || !job) return undefined;
    this.now = start;
    this.served.set(owner, start + job.cost);
    if (line.length === 0) this.lines.delete(owner);
    // A tenant behind the virtual time would join at it anyway: forget it.
    for (const [o, s] of this.served) if (s < start) this.served.delete(o);
    return job.id;
  }

  /** Takes `id` out of `owner`'s line; false when it was not there. */
  remove(owner: string, id: string): boolean {
    const line = this.lines.get(owner);
    const i = line?.findIndex((j) => j.id === id) ?? -1;
    if (!line || i < 0) return false;
    line.splice(i, 1);
    if (line.length === 0) this.lines.delete(owner);
    return true;
  }

  /** How many jobs `owner` has waiting. */
  size(owner: string): number {
    return this.lines.get(owner)?.length ?? 0;
  }

  /** How many jobs each tenant with any has waiting. */
  sizes(): Map<string, number> {
    return new Map([...this.lines].map(([owner, line]) => [owner, line.length]));
  }

  /** The id accepted first of all that wait: ids are UUIDv7, so the least is the oldest. */
  oldest(): string | undefined {
    let oldest: string | undefined;
    for (const [first] of this.lines.values()) {
      if (first && (oldest === undefined || first.id < oldest)) oldest = first.id;
    }
    return oldest;
  }
}
