import { z } from "@hono/zod-openapi";

/**
 * The zod schemas of what a job is made of, from which both the API's documents and the job
 * backends' TypeScript types are inferred. Here, below the jobs, webhooks, metrics and schemas
 * folders, so that each of them can use them without importing the others.
 */

/** The statuses a job never leaves, once in one. */
export const TERMINAL_STATUSES = ["succeeded", "failed", "canceled"] as const;
/** Every status, in the order a job goes through them; each is named once, here or above. */
export const JOB_STATUSES = ["queued", "running", ...TERMINAL_STATUSES] as const;

export const JobStatusSchema = z.enum(JOB_STATUSES).openapi("JobStatus");
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const JOB_EVENTS = ["job.running", "job.succeeded", "job.failed", "job.canceled"] as const;

/** Webhook events a job can emit; a webhook's filter is a subset. */
export const JobEventSchema = z.enum(JOB_EVENTS);
export type JobEvent = z.infer<typeof JobEventSchema>;

export const DeliverySchema = z
  .object({
    id: z.string().describe("the Standard Webhooks webhook-id, the same for every attempt of one event"),
    event: JobEventSchema,
    attempt: z.number().int(),
    at: z.string().describe("when the attempt was made (ISO 8601)"),
    status: z.number().int().nullable().describe("the receiver's HTTP status; null when unreachable"),
    ok: z.boolean(),
    error: z.string().optional(),
  })
  .openapi("WebhookDelivery");
export type WebhookDelivery = z.infer<typeof DeliverySchema>;

/** An RFC 9457 problem, stored on a failed job. */
export const JobErrorSchema = z
  .object({ type: z.string(), title: z.string(), detail: z.string() })
  .describe("why the job failed, as an RFC 9457 problem")
  .openapi("JobError");
export type JobError = z.infer<typeof JobErrorSchema>;
