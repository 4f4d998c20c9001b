import type { MiddlewareHandler } from "hono";
import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { AppEnv } from "../env.js";
import { ProblemError, problemTypes } from "./problem.js";

/**
 * Spends one request of the calling tenant's budget in `limiter`: the keys of one tenant share it,
 * as they share its jobs. Every answer says what is left in `RateLimit-Limit`, `RateLimit-Remaining`
 * and `RateLimit-Reset` (seconds; draft-ietf-httpapi-ratelimit-headers); an empty budget answers
 * 429 with `Retry-After`, the seconds until the window turns.
 */
export function rateLimit(limiter: RateLimiterAbstract): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let spent: RateLimiterRes;
    try {
      spent = await limiter.consume(c.get("tenant"));
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const retryAfter = secondsUntil(e);
      throw new ProblemError(
        {
          type: problemTypes.rateLimited,
          title: "Too Many Requests",
          status: 429,
          detail: `rate limit of ${limiter.points} requests per ${limiter.duration} s exceeded; retry in ${retryAfter} s`,
        },
        { "Retry-After": String(retryAfter), ...budgetHeaders(limiter, e) },
      );
    }
    for (const [name, value] of Object.entries(budgetHeaders(limiter, spent))) c.header(name, value);
    return next();
  };
}

function budgetHeaders(limiter: RateLimiterAbstract, res: RateLimiterRes): Record<string, string> {
  return {
    "RateLimit-Limit": String(limiter.points),
    "RateLimit-Remaining": String(Math.max(0, res.remainingPoints)),
    "RateLimit-Reset": String(secondsUntil(res)),
  };
}

/** Whole seconds until the window turns, at least 1 (a Retry-After of 0 invites a retry storm). */
function secondsUntil(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}
