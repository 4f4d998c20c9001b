import type { z } from "@hono/zod-openapi";
import type { Job } from "../contract/jobs.js";
import type { JobSchema } from "./job.js";

/**
 * A job as the API shows it: its spec flattened, and the input reduced to its shape and digest.
 * Typed by the API's schema, so that the stored job (hand-written: it keeps the spec and owner the
 * API does not show) cannot drift from what the API promises without failing to compile.
 */
export function presentJob(job: Job): z.infer<typeof JobSchema> {
  const { spec } = job;
  return {
    id: job.id,
    status: job.status,
    certifier: spec.certifier,
    progress: job.progress,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    input: { shape: spec.input.shape, sha256: spec.input.sha256 },
    parameters: spec.parameters,
    webhook: spec.webhook ?? null,
    metadata: spec.metadata ?? null,
    cancelRequested: job.cancelRequested,
    certificate: job.certificate,
    error: job.error,
    deliveries: job.deliveries,
  };
}
