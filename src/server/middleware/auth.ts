import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";
import { problem, problemTypes } from "./problem.js";

/** sha256 of an API key, lowercase hex: what API_KEYS holds, so that the keys never sit in config. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * `Authorization: Bearer <key>` against the sha256 hashes of the accepted keys. With no keys
 * configured (allowed on loopback only) every caller is `anonymous`. The hash of the presented key
 * is compared with every accepted hash in constant time, so timing tells nothing about the keys.
 */
export function apiKeyAuth(keyHashes: readonly string[]): MiddlewareHandler<AppEnv> {
  const accepted = keyHashes.map((h) => Buffer.from(h, "hex"));
  return async (c, next) => {
    if (accepted.length === 0) {
      c.set("principal", "anonymous");
      return next();
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
    const challenge = { "WWW-Authenticate": 'Bearer realm="dualrs"' };
    if (!match?.[1]) {
      throw withHeaders(
        problem(
          401,
          problemTypes.unauthorized,
          "Unauthorized",
          "send an API key: Authorization: Bearer <key>",
        ),
        challenge,
      );
    }
    const presented = createHash("sha256").update(match[1], "utf8").digest();
    let found = -1;
    for (const [i, hash] of accepted.entries()) {
      if (timingSafeEqual(presented, hash) && found < 0) found = i;
    }
    if (found < 0) {
      throw withHeaders(
        problem(401, problemTypes.unauthorized, "Unauthorized", "the API key is not valid"),
        challenge,
      );
    }
    c.set("principal", `key-${keyHashes[found]?.slice(0, 12)}`);
    return next();
  };
}

function withHeaders<T extends { headers: Record<string, string> }>(
  e: T,
  headers: Record<string, string>,
): T {
  Object.assign(e.headers, headers);
  return e;
}
