import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";
import { ProblemError, problemTypes } from "./problem.js";

export interface RateLimitOptions {
  /** Requests a caller may make per window; 0 turns the limit off. */
  limit: number;
  windowSeconds: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per caller (`principal`): `limit` requests at once, refilled at `limit` per
 * window. An empty bucket answers 429 with `Retry-After`, the seconds until one request fits.
 */
export function rateLimit({
  limit,
  windowSeconds,
  now = Date.now,
}: RateLimitOptions): MiddlewareHandler<AppEnv> {
  const buckets = new Map<string, Bucket>();
  const perMs = limit / (windowSeconds * 1000);
  return async (c, next) => {
    if (limit <= 0) return next();
    const who = c.get("principal");
    const t = now();
    const bucket = buckets.get(who) ?? { tokens: limit, at: t };
    bucket.tokens = Math.min(limit, bucket.tokens + (t - bucket.at) * perMs);
    bucket.at = t;
    buckets.set(who, bucket);
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      throw new ProblemError(
        {
          type: problemTypes.rateLimited,
          title: "Too Many Requests",
          status: 429,
          detail: `rate limit of ${limit} requests per ${windowSeconds} s exceeded; retry in ${retryAfter} s`,
        },
        { "Retry-After": String(retryAfter) },
      );
    }
    bucket.tokens -= 1;
    if (buckets.size > 10_000) prune(buckets, limit);
    return next();
  };
}

/** Forgets full buckets, which hold nothing a fresh one would not. */
function prune(buckets: Map<string, Bucket>, limit: number): void {
  for (const [k, b] of buckets) if (b.tokens >= limit) buckets.delete(k);
}
