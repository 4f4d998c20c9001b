import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../env.js";
import { isUnavailable, UNAVAILABLE_RETRY_AFTER_S } from "../unavailable.js";

/** One field at fault: its path in the request, as a JSON pointer and as a dotted name. */
export interface FieldError {
  pointer: string;
  field: string;
  detail: string;
}

/** An RFC 9457 problem details object. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  /** The first field at fault (validation errors). */
  field?: string;
  errors?: FieldError[];
  /** The certifier's expected input shape, when the input did not fit it. */
  expectedShape?: number[];
  requestId?: string;
}

export const PROBLEM_TYPE = "application/problem+json";

/** Problem types, as URI references relative to the server; docs/api.md describes each. */
export const problemTypes = {
  badRequest: "/problems/bad-request",
  unauthorized: "/problems/unauthorized",
  forbidden: "/problems/forbidden",
  notFound: "/problems/not-found",
  conflict: "/problems/conflict",
  tooLarge: "/problems/payload-too-large",
  validation: "/problems/validation",
  idempotencyMismatch: "/problems/idempotency-key-reused",
  idempotencyInFlight: "/problems/idempotency-key-in-flight",
  rateLimited: "/problems/rate-limited",
  tooManyQueued: "/problems/too-many-queued-jobs",
  unsupportedMediaType: "/problems/unsupported-media-type",
  notReady: "/problems/not-ready",
  unavailable: "/problems/unavailable",
  internal: "/problems/internal",
} as const;

/** Thrown by handlers and middleware; `onError` answers it as problem+json. */
export class ProblemError extends Error {
  override readonly name = "ProblemError";
  constructor(
    readonly problem: Omit<Problem, "instance" | "requestId">,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail);
  }
}

export function problem(
  status: number,
  type: string,
  title: string,
  detail: string,
  extra: Partial<Problem> = {},
): ProblemError {
  return new ProblemError({ type, title, status, detail, ...extra });
}

/** Items listed in a problem's text at most; the rest are counted ("and 99990 more"). */
export const MAX_LISTED = 10;
/** Characters of a problem's detail (and each field error's) at most. */
export const MAX_DETAIL = 500;
/** Characters of a field name, pointer or instance path at most. */
const MAX_NAME = 200;

/** `"a", "b", "c" and 7 more`: the first `max` items, the rest counted. */
export function listed(items: readonly string[], max = MAX_LISTED): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** `s` cut to `max` characters, saying how many were left out. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length - max} more characters)`;
}

/**
 * A problem of bounded size, however much was wrong: a body of 100,000 unknown keys or bad array
 * items would otherwise come back as megabytes of problem. Field errors beyond `MAX_LISTED` are
 * counted in the detail.
 */
export function boundProblem<P extends Partial<Problem> & { detail: string }>(p: P): P {
  const errors = p.errors;
  const more = errors && errors.length > MAX_LISTED ? errors.length - MAX_LISTED : 0;
  return {
    ...p,
    detail: clip(p.detail, MAX_DETAIL) + (more > 0 ? ` (and ${more} more errors)` : ""),
    ...(p.field === undefined ? {} : { field: clip(p.field, MAX_NAME) }),
    ...(p.instance === undefined ? {} : { instance: clip(p.instance, MAX_NAME) }),
    ...(errors
      ? {
          errors: errors.slice(0, MAX_LISTED).map((e) => ({
            pointer: clip(e.pointer, MAX_NAME),
            field: clip(e.field, MAX_NAME),
            detail: clip(e.detail, MAX_DETAIL),
          })),
        }
      : {}),
  };
}

/** Writes a problem as the response, with the request's id and path; every problem goes out here, bounded. */
export function problemResponse(
  c: Context<AppEnv>,
  p: Omit<Problem, "instance" | "requestId">,
  headers: Record<string, string> = {},
): Response {
  const body: Problem = boundProblem({ ...p, instance: c.req.path });
  const id = c.get("requestId");
  if (id) body.requestId = id;
  return c.body(JSON.stringify(body), p.status as ContentfulStatusCode, {
    ...headers,
    "Content-Type": PROBLEM_TYPE,
  });
}

/** The app's error handler: problems as they are, Hono's HTTP errors by status, anything else a 500. */
export function onError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof ProblemError) return problemResponse(c, err.problem, err.headers);
  if (err instanceof HTTPException) {
    const status = err.status;
    if (status === 415) {
      const detail = "send the request body as application/json";
      return problemResponse(c, {
        type: problemTypes.unsupportedMediaType,
        title: titleOf(415),
        status,
        detail,
      });
    }
    const type =
      status === 413 ? problemTypes.tooLarge : status < 500 ? problemTypes.badRequest : problemTypes.internal;
    return problemResponse(c, {
      type,
      title: titleOf(status),
      status,
      detail: err.message || titleOf(status),
    });
  }
  // Redis down or restarting: the request may well succeed once it is back.
  if (isUnavailable(err)) {
    console.error(
      `request ${c.get("requestId") ?? "-"} ${c.req.method} ${c.req.path} unavailable: ${err.message}`,
    );
    return problemResponse(
      c,
      {
        type: problemTypes.unavailable,
        title: "Service Unavailable",
        status: 503,
        detail: "a service this server depends on cannot be reached for now; retry shortly",
      },
      { "Retry-After": String(UNAVAILABLE_RETRY_AFTER_S) },
    );
  }
  // An unexpected error: logged with the request id, and never shown to the caller.
  console.error(`request ${c.get("requestId") ?? "-"} ${c.req.method} ${c.req.path} failed:`, err);
  return problemResponse(c, {
    type: problemTypes.internal,
    title: "Internal Server Error",
    status: 500,
    detail: "the server failed to answer this request; it has been logged",
  });
}

export function notFound(c: Context<AppEnv>): Response {
  return problemResponse(c, {
    type: problemTypes.notFound,
    title: "Not Found",
    status: 404,
    detail: `no route for ${c.req.method} ${c.req.path}`,
  });
}

function titleOf(status: number): string {
  const titles: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
  };
  return titles[status] ?? (status >= 500 ? "Internal Server Error" : "Bad Request");
}
