import type { Job } from "../jobs/types.js";

/** A job as the API shows it: its spec flattened, and the input reduced to its shape and digest. */
export function presentJob(job: Job) {
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
