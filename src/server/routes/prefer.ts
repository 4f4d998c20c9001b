/** The longest `Prefer: wait` the API honours, in seconds. */
export const MAX_WAIT_SECONDS = 60;

/**
 * Seconds asked for by `Prefer: wait=N` (RFC 7240), capped at 60; 0 when absent. A malformed
 * preference is ignored, as RFC 7240 asks.
 */
export function preferWait(header: string | undefined): number {
  if (!header) return 0;
  const match = /(?:^|[,;])\s*wait\s*=\s*"?(\d{1,9})"?\s*(?:$|[,;])/i.exec(header);
  if (!match?.[1]) return 0;
  return Math.min(MAX_WAIT_SECONDS, Number(match[1]));
}
