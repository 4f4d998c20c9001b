import type { Job, Problem } from "./types.js";

/** The base of every error the client throws. */
export class DualrsError extends Error {
  override name = "DualrsError";
}

/** The API answered with an error status; `problem` is its RFC 9457 problem document. */
export class APIError extends DualrsError {
  override name = "APIError";
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    readonly headers: Headers,
    message?: string,
  ) {
    super(
      message ??
        `${status} ${problem ? `${problem.title}: ${problem.detail}` : "status code (no problem body)"}`,
    );
  }

  /** The server's id of the request, for its logs. */
  get requestId(): string | undefined {
    return this.problem?.requestId ?? this.headers.get("x-request-id") ?? undefined;
  }
}

export class BadRequestError extends APIError {
  override name = "BadRequestError";
}
export class AuthenticationError extends APIError {
  override name = "AuthenticationError";
}
export class PermissionDeniedError extends APIError {
  override name = "PermissionDeniedError";
}
export class NotFoundError extends APIError {
  override name = "NotFoundError";
}
export class ConflictError extends APIError {
  override name = "ConflictError";
}
export class UnprocessableEntityError extends APIError {
  override name = "UnprocessableEntityError";
}
export class RateLimitError extends APIError {
  override name = "RateLimitError";
}
export class InternalServerError extends APIError {
  override name = "InternalServerError";
}

const byStatus: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: UnprocessableEntityError,
  429: RateLimitError,
};

/** The error class for a status: one per class of status, `APIError` for the others. */
export function apiError(status: number, problem: Problem | undefined, headers: Headers): APIError {
  const Class = byStatus[status] ?? (status >= 500 ? InternalServerError : APIError);
  return new Class(status, problem, headers);
}

/** The request never got an answer: the server could not be reached or the connection broke. */
export class APIConnectionError extends DualrsError {
  override name = "APIConnectionError";
}

/** No answer within the client's `timeout`. */
export class APIConnectionTimeoutError extends APIConnectionError {
  override name = "APIConnectionTimeoutError";
}

/** The caller's AbortSignal fired. */
export class APIUserAbortError extends DualrsError {
  override name = "APIUserAbortError";
}

/** `certify.run()`: the job finished without a certificate (failed or canceled). */
export class JobError extends DualrsError {
  override name = "JobError";
  constructor(readonly job: Job) {
    super(`job ${job.id} ${job.status}${job.error ? `: ${job.error.detail}` : ""}`);
  }
}

/** `webhooks.verify()`: the payload's signature or timestamp is not acceptable. */
export class WebhookVerificationError extends DualrsError {
  override name = "WebhookVerificationError";
}
