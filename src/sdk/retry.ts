/**
 * Retried answers: 408, 429 and 5xx, and a 409 that says when to retry (an `Idempotency-Key` whose
 * first request is still in flight); a 409 without `Retry-After` is a lasting conflict (a job
 * that already finished), which no retry resolves.
 */
export function shouldRetry(status: number, retryAfter: string | null): boolean {
  return status === 408 || status === 429 || status >= 500 || (status === 409 && retryAfter !== null);
}

/** The longest `Retry-After` honoured; a longer one falls back to the client's own backoff. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Milliseconds to wait before retry number `attempt` (0 for the first retry): the server's
 * `Retry-After` (delay-seconds or an HTTP date) when it gives a sane one, else exponential backoff
 * from 0.5 s, capped at 8 s, less up to a quarter at random so that clients spread out.
 */
export function retryDelay(attempt: number, retryAfter: string | null, now = Date.now()): number {
  if (retryAfter) {
    const ms = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) * 1000 : Date.parse(retryAfter) - now;
    if (ms >= 0 && ms <= MAX_RETRY_AFTER_MS) return ms;
    if (ms < 0) return 0;
  }
  return Math.min(500 * 2 ** attempt, 8000) * (1 - Math.random() * 0.25);
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}
