import { createHmac, hkdfSync } from "node:crypto";
import { ANONYMOUS } from "../contract/jobs.js";

const prefix = "whsec_";

/** The key bytes of a Standard Webhooks secret, `whsec_<base64>` (a bare base64 secret is accepted too). */
export function secretKey(secret: string): Buffer {
  const base64 = secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
  const key = Buffer.from(base64, "base64");
  if (key.length < 16 || key.toString("base64").replace(/=+$/, "") !== base64.replace(/=+$/, "")) {
    throw new RangeError("a webhook secret is whsec_ followed by at least 16 bytes in base64");
  }
  return key;
}

/**
 * The secret that signs `tenant`'s deliveries, `whsec_<base64>`: HKDF-SHA256 (RFC 5869) of the
 * server's secret, so that one tenant cannot sign what another tenant's receiver would accept.
 * The anonymous tenant (no API keys: one operator on loopback) signs with the server's secret.
 */
export function tenantSecret(secret: string, tenant: string): string {
  if (tenant === ANONYMOUS) return secret;
  const key = hkdfSync("sha256", secretKey(secret), "", `dualrs webhook signing secret: ${tenant}`, 32);
  return `${prefix}${Buffer.from(key).toString("base64")}`;
}

/** The headers that sign one delivery (Standard Webhooks): v1 is HMAC-SHA256 of "id.timestamp.body". */
export function signatureHeaders(
  key: Buffer,
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": `v1,${signature}`,
  };
}
