import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";
import { problem, problemTypes } from "./problem.js";

/**
 * Whether `contentType` is `application/json` with no parameter but `charset=utf-8`. The body is
 * always read as UTF-8, so another charset, or a JSON-ish type (`text/json`, `application/x-json`,
 * `application/foo+json`), would be misread rather than refused.
 */
export function isJsonUtf8(contentType: string): boolean {
  const [type = "", ...params] = contentType.split(";");
  if (type.trim().toLowerCase() !== "application/json") return false;
  return params.every((p) => {
    const [name = "", value = ""] = p.split("=").map((s) => s.trim().toLowerCase());
    return name === "charset" && value.replace(/^"(.*)"$/, "$1") === "utf-8";
  });
}

/** Refuses a request body that is not `application/json` (UTF-8) with a 415 naming its Content-Type. */
export function jsonOnly(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const contentType = c.req.header("content-type");
    // No Content-Type: the route's own check answers (415 for a body, 422 for none).
    if (contentType !== undefined && !isJsonUtf8(contentType)) {
      throw problem(
        415,
        problemTypes.unsupportedMediaType,
        "Unsupported Media Type",
        `Content-Type ${JSON.stringify(contentType.slice(0, 100))} is not accepted: send the body as application/json (UTF-8)`,
        { field: "Content-Type" },
      );
    }
    return next();
  };
}
