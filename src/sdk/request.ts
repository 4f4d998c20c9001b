import { APIConnectionError, APIConnectionTimeoutError, APIUserAbortError, apiError } from "./errors.js";
import { retryDelay, shouldRetry, sleep } from "./retry.js";
import type { Problem } from "./types.js";

/** Options every method takes. */
export interface RequestOptions {
  /** Aborts the request (and its retries) with `APIUserAbortError`. */
  signal?: AbortSignal | undefined;
  /** Milliseconds per attempt; overrides the client's `timeout`. */
  timeout?: number | undefined;
  /** Overrides the client's `maxRetries`. */
  maxRetries?: number | undefined;
  headers?: Record<string, string> | undefined;
}

export interface Request extends RequestOptions {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
}

export interface Transport {
  baseURL: string;
  apiKey: string | null;
  fetch: typeof fetch;
  maxRetries: number;
  timeout: number;
}

/**
 * Sends a request and answers its JSON body. Connection errors, timeouts and retryable statuses
 * (see `shouldRetry`) are retried with backoff; that is safe for every request the client makes
 * (reads, cancels, deletes, and creates, which always carry an `Idempotency-Key`). Any other
 * status is thrown as the `APIError` subclass of its status, with the problem document the server
 * sent.
 */
export async function send<T>(t: Transport, req: Request): Promise<T> {
  const url = new URL(t.baseURL.replace(/\/+$/, "") + req.path);
  for (const [k, v] of Object.entries(req.query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  if (t.apiKey) headers.authorization = `Bearer ${t.apiKey}`;
  if (req.body !== undefined) headers["content-type"] = "application/json";
  const retries = req.maxRetries ?? t.maxRetries;
  // Whether an earlier attempt may have done its work without its answer reaching us.
  let unheard = false;
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(req.timeout ?? t.timeout);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await t.fetch(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? null : JSON.stringify(req.body),
        signal,
      });
      text = await res.text();
    } catch (e) {
      if (req.signal?.aborted) throw new APIUserAbortError("request aborted", { cause: e });
      const error = timeout.aborted
        ? new APIConnectionTimeoutError("request timed out", { cause: e })
        : new APIConnectionError(`connection error: ${(e as Error).message}`, { cause: e });
      if (attempt >= retries) throw error;
      unheard = true;
      await pause(attempt, null, req.signal);
      continue;
    }
    if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
    // A DELETE retried after an unheard attempt: 404 says the resource is gone, as was asked.
    if (req.method === "DELETE" && res.status === 404 && unheard) return undefined as T;
    const error = apiError(res.status, problemOf(text), res.headers);
    const retryAfter = res.headers.get("retry-after");
    unheard ||= res.status >= 500;
    if (attempt >= retries || !shouldRetry(res.status, retryAfter)) throw error;
    await pause(attempt, retryAfter, req.signal);
  }
}

async function pause(
  attempt: number,
  retryAfter: string | null,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await sleep(retryDelay(attempt, retryAfter), signal);
  } catch (e) {
    throw new APIUserAbortError("request aborted", { cause: e });
  }
}

function problemOf(text: string): Problem | undefined {
  try {
    const body = JSON.parse(text);
    return body && typeof body === "object" ? body : undefined;
  } catch {
    return undefined;
  }
}
