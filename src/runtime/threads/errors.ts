/** An error from the engine as it crosses a thread boundary: its class name and message. */
export interface ErrorInfo {
  name: string;
  message: string;
}

/**
 * The engine failed inside a certification thread. Only its class name and message cross back
 * (`remote`), so callers tell the causes apart by `remote.name` (InputError, IntegrityError...).
 */
export class ThreadTaskError extends Error {
  override readonly name = "ThreadTaskError";
  constructor(readonly remote: ErrorInfo) {
    super(remote.message);
  }
}

/** A certification thread died (it crashed or exited) while it still owed answers. */
export class ThreadLostError extends Error {
  override readonly name = "ThreadLostError";
}

/** The error a canceled batch rejects with, as `AbortSignal` users expect. */
export function abortError(): Error {
  return new DOMException("the job was canceled", "AbortError");
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === "AbortError";
}
