export { type ClientOptions, Dualrs, Dualrs as default } from "./client.js";
export {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  DualrsError,
  InternalServerError,
  JobError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
  WebhookVerificationError,
} from "./errors.js";
export type { RequestOptions } from "./request.js";
export type { CreateOptions, GetOptions, RunOptions } from "./resources/certify.js";
export type { WebhookEvent } from "./resources/webhooks.js";
export type * from "./types.js";
