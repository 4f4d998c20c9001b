import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";

/**
 * The Content-Security-Policy of the HTML pages: everything from the server itself, no inline
 * script, no plugins, no framing. Images may also be data: and blob: URLs (the web page shows an
 * uploaded image from a blob: URL).
 */
export const PAGE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The API reference's policy: the page's, but Scalar's script adds style elements and attributes,
 * which inline styles must be allowed for (scripts stay 'self' only).
 */
export const DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");

/**
 * `X-Content-Type-Options: nosniff` on every answer, so that a browser never runs or renders a body
 * as anything but its declared type, and a Content-Security-Policy on every HTML page (`/docs` its
 * own). Set after the handler, so that errors and 404s get them too.
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set("X-Content-Type-Options", "nosniff");
    const type = c.res.headers.get("Content-Type") ?? "";
    if (/^text\/html\b/i.test(type) && !c.res.headers.has("Content-Security-Policy")) {
      c.res.headers.set("Content-Security-Policy", c.req.path === "/docs" ? DOCS_POLICY : PAGE_POLICY);
    }
  };
}
