import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ANONYMOUS } from "../contract/jobs.js";
import type { AppEnv } from "../env.js";
import { problem, problemTypes } from "./problem.js";

/** An accepted API key: the sha256 of the key (never the key itself) and the tenant it acts for. */
export interface ApiKey {
  hash: string;
  tenant: string;
}

/** A tenant's name: it becomes part of Redis keys, so it is kept to a small alphabet. */
export const TENANT = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** sha256 of an API key, lowercase hex: what API_KEYS holds, so that the keys never sit in config. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * One API_KEYS entry: `HASH`, or `TENANT:HASH` to let several keys (a team's, or the old and new
 * key of a rotation) act for one tenant. A key without a tenant is a tenant of its own, named
 * `key-` and the first 12 hex digits of its hash. Returns null for an entry of neither form.
 */
export function parseApiKey(entry: string): ApiKey | null {
  const m = /^(?:([^:]+):)?([0-9a-f]{64})$/.exec(entry.trim().toLowerCase());
  if (!m?.[2]) return null;
  const tenant = m[1] ?? `key-${m[2].slice(0, 12)}`;
  return TENANT.test(tenant) ? { hash: m[2], tenant } : null;
}

/**
 * `Authorization: Bearer <key>` against the sha256 hashes of the accepted keys. With no keys
 * configured (allowed on loopback only) every caller is `anonymous`. The hash of the presented key
 * is compared with every accepted hash in constant time, so timing tells nothing about the keys.
 */
export function apiKeyAuth(keys: readonly ApiKey[]): MiddlewareHandler<AppEnv> {
  const accepted = keys.map((k) => Buffer.from(k.hash, "hex"));
  return async (c, next) => {
    if (accepted.length === 0) {
      c.set("tenant", ANONYMOUS);
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
    const key = keys[found];
    if (!key) {
      throw withHeaders(
        problem(401, problemTypes.unauthorized, "Unauthorized", "the API key is not valid"),
        challenge,
      );
    }
    c.set("tenant", key.tenant);
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

/**
 * Lets only the callers acting for one of `tenants` through (403 for the others); an empty list
 * lets every caller through. For operator views that span tenants, such as `/metrics`.
 */
export function onlyTenants(tenants: readonly string[]): MiddlewareHandler<AppEnv> {
  const allowed = new Set(tenants);
  return async (c, next) => {
    if (allowed.size > 0 && !allowed.has(c.get("tenant"))) {
      throw problem(
        403,
        problemTypes.forbidden,
        "Forbidden",
        "this API key's tenant may not read this resource",
      );
    }
    return next();
  };
}
