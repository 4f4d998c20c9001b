import type { JobError } from "./types.js";

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

/** An error from the engine, as it crosses a thread boundary: its class name and message. */
export interface ErrorInfo {
  name: string;
  message: string;
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

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === "AbortError";
}

export function abortError(): Error {
  return new DOMException("the job was canceled", "AbortError");
}
