import { type ErrorInfo, ThreadLostError, ThreadTaskError } from "../../runtime/threads/errors.js";
import type { JobError } from "../contract/jobs.js";

export { abortError, isAbortError } from "../../runtime/threads/errors.js";

/** Problem types of failed jobs, relative like the API's own (RFC 9457). */
export const jobProblemTypes = {
  input: "/problems/invalid-input",
  certifier: "/problems/certifier-unavailable",
  model: "/problems/model-error",
  internal: "/problems/internal",
} as const;

/** A job that ran and failed; `problem` is what the job record shows. */
export class JobFailure extends Error {
  override readonly name = "JobFailure";
  constructor(readonly problem: JobError) {
    super(problem.detail);
  }
}

/** The queue no longer takes jobs: it is closing. */
export class QueueClosedError extends Error {
  override readonly name = "QueueClosedError";
  constructor() {
    super("the job queue is shutting down");
  }
}

/** The problem a failed certification shows, by the class of its error. */
export function jobErrorOf(e: ErrorInfo): JobError {
  switch (e.name) {
    case "InputError":
      return { type: jobProblemTypes.input, title: "Invalid input or parameters", detail: e.message };
    case "ManifestError":
    case "IntegrityError":
    case "ProviderError":
      return { type: jobProblemTypes.certifier, title: "Certifier unavailable", detail: e.message };
    case "ModelError":
    case "NonFiniteLogitsError":
      return { type: jobProblemTypes.model, title: "Model error", detail: e.message };
    default:
      return { type: jobProblemTypes.internal, title: "Certification failed", detail: e.message };
  }
}

/**
 * The problem a failed certification shows, whatever threw: the runtime's thread errors are mapped
 * here, and only here, to the API's problem types.
 */
export function jobErrorFrom(e: unknown): JobError {
  if (e instanceof JobFailure) return e.problem;
  if (e instanceof ThreadTaskError) return jobErrorOf(e.remote);
  if (e instanceof ThreadLostError)
    return { type: jobProblemTypes.internal, title: "Certification thread failed", detail: e.message };
  const error = e instanceof Error ? e : new Error(String(e));
  return jobErrorOf({ name: error.name, message: error.message });
}
