import { ConnectionClosedError } from "bullmq";

/** Seconds a caller should wait before retrying while a dependency is away: ioredis retries every 2 s at most. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

/** ioredis's own: a command that waited out its reconnection attempts (`maxRetriesPerRequest`). */
const REDIS_ERRORS = new Set(["MaxRetriesPerRequestError"]);
/** ioredis's messages for a connection that is closed, or not open on a client without an offline queue. */
const REDIS_MESSAGES = new Set([
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
]);
/** A socket that could not reach its peer, or lost it. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
/** Replies of a Redis that is loading its data after a restart, or failing over. */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|READONLY|TRYAGAIN)\b/;

/**
 * Whether `e`, or an error that caused it, says that a service the server depends on (Redis, as
 * ioredis or BullMQ report it) cannot be reached for now: the request may succeed once it is back,
 * so it is a 503 with Retry-After, not a 500. Every connection error is recognized here alone.
 */
export function isUnavailable(e: unknown): boolean {
  // `cause` chains are short; the bound guards against a cycle.
  for (let err = e, depth = 0; err instanceof Error && depth < 8; err = err.cause, depth++) {
    if (err instanceof ConnectionClosedError) return true;
    if (REDIS_ERRORS.has(err.name) || REDIS_MESSAGES.has(err.message)) return true;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && NETWORK_CODES.has(code)) return true;
    if (err.name === "ReplyError" && TRANSIENT_REPLY.test(err.message)) return true;
  }
  return false;
}
