import { APIUserAbortError, JobError } from "../errors.js";
import { idempotencyKey } from "../idempotency.js";
import { type RequestOptions, send, type Transport } from "../request.js";
import { sleep } from "../retry.js";
import type { Certificate, CertifyRequest, Job, JobPage, ListParams } from "../types.js";

export interface CreateOptions extends RequestOptions {
  /** Makes retries safe: the server answers the same job. Generated when absent. */
  idempotencyKey?: string | undefined;
  /** Seconds (at most 60) the server may hold the request for the job to finish (`Prefer: wait`). */
  wait?: number | undefined;
}

export interface GetOptions extends RequestOptions {
  /** Seconds (at most 60) the server may hold the answer until the job finishes (`Prefer: wait`). */
  wait?: number | undefined;
}

export interface RunOptions extends CreateOptions {
  /** Called with the job whenever a fresh state of it arrives. */
  onProgress?: ((job: Job) => void) | undefined;
  /** Milliseconds before the first poll; later polls back off to at most 5 s. Default 500. */
  pollInterval?: number | undefined;
}

const done = (job: Job) => job.status === "succeeded" || job.status === "failed" || job.status === "canceled";

/** Certification jobs: `/certify`. */
export class Certify {
  constructor(private readonly t: Transport) {}

  /**
   * Queues a job. Retries are safe because every attempt carries the same `Idempotency-Key`,
   * generated once here when the caller gives none.
   */
  create(body: CertifyRequest, options: CreateOptions = {}): Promise<Job> {
    const { wait, idempotencyKey: key, ...rest } = options;
    const headers = { ...rest.headers, "idempotency-key": key ?? idempotencyKey() };
    return send(this.t, {
      ...this.waiting(wait, { ...rest, headers }),
      method: "POST",
      path: "/certify",
      body,
    });
  }

  /** A job; with `wait`, the server holds the answer until the job finishes or `wait` seconds pass. */
  get(id: string, options: GetOptions = {}): Promise<Job> {
    const { wait, ...rest } = options;
    return send(this.t, {
      ...this.waiting(wait, rest),
      method: "GET",
      path: `/certify/${encodeURIComponent(id)}`,
    });
  }

  /** Requests cancellation: a queued job stops at once, a running one within a second. */
  cancel(id: string, options?: RequestOptions): Promise<Job> {
    return send(this.t, {
      ...options,
      method: "POST",
      path: `/certify/${encodeURIComponent(id)}/cancel`,
    });
  }

  /**
   * Forgets a finished job now: its input, certificate and deliveries. A job not yet finished is a
   * `ConflictError`, an unknown one a `NotFoundError`, unless an earlier attempt's answer was lost
   * (a dropped connection, a timeout, a 5xx): then the job is gone, as was asked, and it resolves.
   */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await send(this.t, { ...options, method: "DELETE", path: `/certify/${encodeURIComponent(id)}` });
  }

  /** Jobs, newest first, one page per iteration: `for await (const page of client.certify.list())`. */
  async *list(params: ListParams = {}, options?: RequestOptions): AsyncGenerator<JobPage, void, undefined> {
    let cursor = params.cursor;
    do {
      const page: JobPage = await send(this.t, {
        ...options,
        method: "GET",
        path: "/certify",
        query: { ...params, cursor },
      });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** The request options with `Prefer: wait`, and a timeout long enough for the server's wait. */
  private waiting(wait: number | undefined, options: RequestOptions): RequestOptions {
    if (!wait) return options;
    return {
      ...options,
      headers: { ...options.headers, prefer: `wait=${Math.min(60, Math.ceil(wait))}` },
      timeout: Math.max(options.timeout ?? this.t.timeout, wait * 1000 + 30_000),
    };
  }

  /**
   * Creates a job and waits for its certificate: first on the server (`Prefer: wait`, default
   * 10 s), then by long polling with backoff. Throws `JobError` when the job fails or is canceled.
   * Aborting the signal cancels the job on the server and throws `APIUserAbortError`.
   */
  async run(body: CertifyRequest, options: RunOptions = {}): Promise<Certificate> {
    const { onProgress, pollInterval = 500, signal } = options;
    let job = await this.create(body, { wait: 10, ...options });
    try {
      for (let delay = pollInterval; ; delay = Math.min(delay * 1.5, 5000)) {
        onProgress?.(job);
        if (done(job)) break;
        // Long polling: the server answers as soon as the job finishes; a server that answered
        // sooner without it finishing is given the rest of the delay.
        const asked = Date.now();
        job = await this.get(job.id, { signal, wait: Math.ceil(delay / 1000) });
        if (!done(job)) await sleep(delay - (Date.now() - asked), signal);
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
      await this.cancel(job.id, { maxRetries: 0 }).catch(() => {});
      throw e instanceof APIUserAbortError ? e : new APIUserAbortError("run aborted", { cause: e });
    }
    if (!job.certificate) throw new JobError(job);
    return job.certificate;
  }
}
