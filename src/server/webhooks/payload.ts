import type { Job, JobEvent } from "../contract/jobs.js";
import { presentJob } from "../schemas/present.js";

/** Standard Webhooks' payload shape: the event type, when it happened, and the job. */
export interface WebhookPayload {
  type: JobEvent;
  timestamp: string;
  /** The job as `GET /certify/{id}` shows it, less its deliveries (the one being made is not in it). */
  data: Omit<ReturnType<typeof presentJob>, "deliveries">;
}

export function webhookPayload(job: Job, event: JobEvent, at: Date): WebhookPayload {
  const { deliveries: _, ...data } = presentJob(job);
  return { type: event, timestamp: at.toISOString(), data };
}

/** The event a job's status emits, if any. */
export function eventOf(status: Job["status"]): JobEvent | null {
  return status === "queued" ? null : (`job.${status}` as JobEvent);
}

/** The same for every attempt of one event, so receivers can drop duplicates. */
export function messageId(jobId: string, event: JobEvent): string {
  return `msg_${jobId}_${event.slice("job.".length)}`;
}
