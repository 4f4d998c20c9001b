import {
  Counter,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from "prom-client";
import type { JobCounts, JobQueue, JobStatus } from "../contract/jobs.js";

/**
 * The service's Prometheus metrics, in one registry. The job runner updates `jobLatency` and
 * `samplesTotal`; the queue gauges are read from `queue.counts()` at each scrape.
 */
export const registry = new Registry();

/** Seconds from a job's start to its end, by certifier and final status. */
export const jobLatency = new Histogram({
  name: "dualrs_job_duration_seconds",
  help: "Time from a job's start to its end, in seconds",
  labelNames: ["certifier", "status"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  registers: [registry],
});

/** Noise draws evaluated, by certifier and tenant; its rate is the service's samples per second. */
export const samplesTotal = new Counter({
  name: "dualrs_samples_total",
  help: "Noisy samples evaluated by certifications",
  labelNames: ["certifier", "tenant"] as const,
  registers: [registry],
});

/** HTTP requests answered, by method, route and status. */
export const httpRequests = new Counter({
  name: "dualrs_http_requests_total",
  help: "HTTP requests answered",
  labelNames: ["method", "route", "status"] as const,
  registers: [registry],
});

const jobsByState = new Gauge({
  name: "dualrs_jobs",
  help: "Jobs by state",
  labelNames: ["state"] as const,
  registers: [registry],
});

const queueDepth = new Gauge({
  name: "dualrs_queue_depth",
  help: "Jobs waiting to run",
  registers: [registry],
});

const queuedByTenant = new Gauge({
  name: "dualrs_queued_jobs",
  help: "Jobs waiting to run, by tenant (tenants with none are left out)",
  labelNames: ["tenant"] as const,
  registers: [registry],
});

/** Refreshes the queue gauges from `counts` and `byTenant`, just before a scrape. */
export function recordCounts(counts: JobCounts, byTenant: ReadonlyMap<string, number> = new Map()): void {
  for (const [state, n] of Object.entries(counts) as [JobStatus, number][]) jobsByState.set({ state }, n);
  queueDepth.set(counts.queued);
  // A tenant whose backlog ran out leaves the gauge, rather than stay at its last value.
  queuedByTenant.reset();
  for (const [tenant, n] of byTenant) queuedByTenant.set({ tenant }, n);
}

/**
 * The exposition text, with the queue gauges fresh from `queue`: every sample, or with `tenant` only
 * that tenant's (the metrics labelled by tenant, its series alone), since the others name every
 * tenant or count their jobs together.
 */
export async function scrape(queue: JobQueue, tenant?: string): Promise<string> {
  const [counts, byTenant] = await Promise.all([queue.counts(), queue.queuedByTenant()]);
  recordCounts(counts, byTenant);
  if (tenant === undefined) return registry.metrics();
  const families = await Promise.all([samplesTotal.get(), queuedByTenant.get()]);
  return families.map((family) => exposition(family, (labels) => labels.tenant === tenant)).join("");
}

/** One family in the text format, with the samples whose labels pass `keep`. */
function exposition<T extends string>(
  family: MetricObjectWithValues<MetricValue<T>>,
  keep: (labels: Partial<Record<T, string | number>>) => boolean,
): string {
  const quoted = (v: unknown) => String(v).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  const lines = [`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`];
  for (const { labels, value } of family.values.filter((v) => keep(v.labels))) {
    const set = Object.entries(labels).map(([k, v]) => `${k}="${quoted(v)}"`);
    lines.push(`${family.name}${set.length > 0 ? `{${set.join(",")}}` : ""} ${value}`);
  }
  return `${lines.join("\n")}\n`;
}
