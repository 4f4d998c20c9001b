import type { MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import type { AppEnv } from "../env.js";
import { problem, problemTypes } from "./problem.js";

/** Hono's body limit (Content-Length and streamed bytes both count), answered as a 413 problem. */
export function bodyLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  return honoBodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw problem(
        413,
        problemTypes.tooLarge,
        "Content Too Large",
        `the request body is larger than ${maxBytes} bytes`,
      );
    },
  });
}
