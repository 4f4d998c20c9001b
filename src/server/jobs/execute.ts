import type { Certificate } from "../../core/certificate.js";
import type { Progress } from "../../core/sampler.js";
import type { Job, JobError } from "../contract/jobs.js";
import { jobLatency, samplesTotal } from "../metrics/registry.js";
import { isAbortError, jobErrorFrom } from "./errors.js";
import type { Runner } from "./runner.js";

/** How a run ended: a terminal state, or `stopped` when its signal aborted. */
export type Outcome =
  | { status: "succeeded"; certificate: Certificate }
  | { status: "failed"; error: JobError }
  | { status: "stopped" };

/**
 * Runs one job on the runner and records the service's metrics: samples as they are drawn, by
 * certifier and tenant (what each tenant used), and the job's duration by certifier and outcome.
 */
export async function execute(
  runner: Runner,
  { spec, owner }: Pick<Job, "spec" | "owner">,
  hooks: { signal: AbortSignal; onProgress: (p: Progress) => void },
): Promise<Outcome> {
  const started = performance.now();
  const certifier = spec.certifier;
  let counted = 0;
  const outcome = await runner
    .run(spec, {
      signal: hooks.signal,
      onProgress: (p) => {
        if (p.done > counted) samplesTotal.inc({ certifier, tenant: owner }, p.done - counted);
        counted = Math.max(counted, p.done);
        hooks.onProgress(p);
      },
    })
    .then(
      (certificate): Outcome => ({ status: "succeeded", certificate }),
      (e: unknown): Outcome => {
        if (isAbortError(e)) return { status: "stopped" };
        return { status: "failed", error: jobErrorFrom(e) };
      },
    );
  const status = outcome.status === "stopped" ? "canceled" : outcome.status;
  jobLatency.observe({ certifier, status }, (performance.now() - started) / 1000);
  return outcome;
}
