/**
 * A fresh `Idempotency-Key`: 128 random bits from Web Crypto (`getRandomValues`, which unlike
 * `randomUUID` also works on pages served over plain http).
 */
export function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dualrs-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
