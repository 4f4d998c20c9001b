import type { MiddlewareHandler } from "hono";
import { cors as honoCors } from "hono/cors";
import type { AppEnv } from "../env.js";

/** Who may call the API from a browser page on another origin: any (`*`) or these origins. */
export type CorsOrigins = "*" | readonly string[];

/**
 * Hono's CORS for the SDK in browsers: the request headers it sends, and the response headers it
 * reads (a browser hides every other one from cross-origin scripts). Keys travel in `Authorization`,
 * never in cookies, so credentials stay off and `*` is safe to allow.
 */
export function cors(origins: CorsOrigins): MiddlewareHandler<AppEnv> {
  return honoCors({
    origin: origins === "*" ? "*" : [...origins],
    allowMethods: ["GET", "HEAD", "POST", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "Prefer"],
    exposeHeaders: [
      "Location",
      "Retry-After",
      "X-Request-Id",
      "Link",
      "Preference-Applied",
      "RateLimit-Limit",
      "RateLimit-Remaining",
      "RateLimit-Reset",
    ],
    // Browsers cap this (Chromium at 2 hours); 10 minutes spares most preflights.
    maxAge: 600,
  });
}
