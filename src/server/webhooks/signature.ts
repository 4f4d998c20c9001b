import { createHmac } from "node:crypto";

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
