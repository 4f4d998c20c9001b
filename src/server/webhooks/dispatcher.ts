import type { Job, JobEvent, WebhookDelivery } from "../contract/jobs.js";
import { deliverOnce } from "./deliver.js";
import { messageId, webhookPayload } from "./payload.js";
import { secretKey, tenantSecret } from "./signature.js";

export interface WebhookOptions {
  /**
   * Standard Webhooks signing secret, `whsec_<base64>`; each tenant's deliveries are signed with a
   * secret derived from it (`tenantSecret`). Without one, deliveries fail, recorded as such.
   */
  secret?: string | undefined;
  /** Allow receivers on private, loopback or link-local addresses. Default false. */
  allowPrivate?: boolean | undefined;
  /** Attempts per event, the first included. Default 6. */
  maxAttempts?: number | undefined;
  /** Wait before the second attempt; doubled for each one after. Default 1000. */
  backoffMs?: number | undefined;
  /** Longest wait between attempts. Default 5 minutes. */
  maxBackoffMs?: number | undefined;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number | undefined;
}

/** Delay before attempt `attempt` (2, 3, ...): exponential backoff. */
export function backoff(options: WebhookOptions, attempt: number): number {
  const base = options.backoffMs ?? 1000;
  return Math.min(base * 2 ** (attempt - 2), options.maxBackoffMs ?? 300_000);
}

/** Whether `job` wants `event` delivered. */
export function wants(job: Job, event: JobEvent): boolean {
  return job.spec.webhook?.events.includes(event) ?? false;
}

/**
 * One attempt of one event, its outcome as the job records it. `attempt` counts from 1.
 */
export async function attemptDelivery(
  options: WebhookOptions,
  job: Job,
  event: JobEvent,
  attempt: number,
): Promise<WebhookDelivery> {
  const id = messageId(job.id, event);
  const at = new Date();
  const url = job.spec.webhook?.url ?? "";
  let key: Buffer;
  try {
    if (!options.secret) throw new Error("webhooks are not configured: no signing secret (WEBHOOK_SECRET)");
    key = secretKey(tenantSecret(options.secret, job.owner));
  } catch (e) {
    return { id, event, attempt, at: at.toISOString(), status: null, ok: false, error: (e as Error).message };
  }
  const body = JSON.stringify(webhookPayload(job, event, at));
  const result = await deliverOnce({
    url,
    id,
    body,
    key,
    guard: { allowPrivate: options.allowPrivate ?? false },
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  return { id, event, attempt, at: at.toISOString(), ...result };
}

/**
 * The attempt of `event` still owed, from the attempts recorded on `job`, and how long until it is
 * due; null when one got through, the last was made, or the job does not want the event.
 */
export function owedAttempt(
  options: WebhookOptions,
  job: Job,
  event: JobEvent,
  now = Date.now(),
): { attempt: number; delayMs: number } | null {
  if (!wants(job, event)) return null;
  const made = job.deliveries.filter((d) => d.event === event);
  if (made.some((d) => d.ok)) return null;
  const last = made.reduce((n, d) => Math.max(n, d.attempt), 0);
  if (last >= (options.maxAttempts ?? 6)) return null;
  const lastAt = made.find((d) => d.attempt === last)?.at;
  const due = lastAt === undefined ? now : Date.parse(lastAt) + backoff(options, last + 1);
  return { attempt: last + 1, delayMs: Math.max(0, due - now) };
}

export interface Dispatcher {
  /** Delivers `event` of `job` if its filter wants it, retrying in the background. */
  dispatch(job: Job, event: JobEvent): void;
  /** Goes on with `event` of `job` from the attempt its recorded deliveries leave owed, if any. */
  resume(job: Job, event: JobEvent): void;
  /** Stops retrying and waits for attempts in flight. */
  close(): Promise<void>;
}

/**
 * In-process delivery with retries, for the embedded queue; `record` stores each attempt on the
 * job, so that the queue can `resume` the retries owed when it starts again. No attempt is made
 * for a job that `exists` no longer says exists (forgotten while a retry waited).
 */
export function createDispatcher(
  options: WebhookOptions,
  record: (jobId: string, delivery: WebhookDelivery) => Promise<void>,
  exists: (jobId: string) => boolean = () => true,
): Dispatcher {
  const maxAttempts = options.maxAttempts ?? 6;
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const later = (job: Job, event: JobEvent, n: number, delayMs: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      attempt(job, event, n);
    }, delayMs);
    timers.add(timer);
  };
  const attempt = (job: Job, event: JobEvent, n: number) => {
    if (closed || !exists(job.id)) return;
    const p = attemptDelivery(options, job, event, n)
      .then(async (delivery) => {
        await record(job.id, delivery);
        if (delivery.ok || n >= maxAttempts || closed || !options.secret) return;
        later(job, event, n + 1, backoff(options, n + 1));
      })
      .catch(() => {})
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  return {
    dispatch(job, event) {
      if (wants(job, event)) attempt(structuredClone(job), event, 1);
    },
    resume(job, event) {
      // Without a secret nothing is retried, so nothing is owed.
      const owed = options.secret ? owedAttempt(options, job, event) : null;
      if (owed) later(structuredClone(job), event, owed.attempt, owed.delayMs);
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(inFlight);
    },
  };
}
