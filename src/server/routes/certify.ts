import { createHash } from "node:crypto";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { InputError } from "../../core/errors.js";
import type { Manifest } from "../../core/manifest.js";
import { type CertifyParameters, type ResolvedParameters, resolveParameters } from "../../core/parameters.js";
import {
  IdempotencyInFlightError,
  IdempotencyMismatchError,
  type Job,
  type JobEvent,
  type JobQueue,
  type JobSpec,
  QueueFullError,
  TERMINAL,
} from "../contract/jobs.js";
import type { AppEnv } from "../env.js";
import { decodeInput } from "../input/decode.js";
import { resolvedForJob } from "../jobs/job-input.js";
import { jsonOnly } from "../middleware/json-only.js";
import { ProblemError, problem, problemTypes } from "../middleware/problem.js";
import { fieldError, validationHook, validationProblem } from "../middleware/validation.js";
import { type CertifyRequest, CertifyRequestSchema } from "../schemas/certify-request.js";
import { JobIdParams, JobPageSchema, JobSchema, ListQuerySchema } from "../schemas/job.js";
import { presentJob } from "../schemas/present.js";
import { problemResponseSpec } from "../schemas/problem.js";
import { commonErrors, security } from "./errors.js";
import { preferWait } from "./prefer.js";
import { checkWebhook } from "./webhook.js";

const DEFAULT_EVENTS: JobEvent[] = ["job.succeeded", "job.failed", "job.canceled"];

const jobContent = { "application/json": { schema: JobSchema } };

const preferHeader = z
  .string()
  .max(256)
  .optional()
  .openapi({ description: "wait=N: hold the answer until the job finishes, at most N <= 60 s" });

const createJob = createRoute({
  method: "post",
  operationId: "createCertification",
  path: "/certify",
  tags: ["certify"],
  summary: "Request a certificate",
  description:
    "Validates the request against the certifier, fixes the seed, and queues a job. `Prefer: wait=N` (N <= 60) " +
    "waits up to N seconds for the job to finish. `Idempotency-Key` makes a retried request return the same job.",
  security,
  middleware: [jsonOnly()] as const,
  request: {
    headers: z.object({
      "idempotency-key": z
        .string()
        .min(1)
        .max(255)
        .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
        .optional()
        .openapi({ description: "retry key: the same key and body returns the same job" }),
      prefer: preferHeader,
    }),
    body: { required: true, content: { "application/json": { schema: CertifyRequestSchema } } },
  },
  responses: {
    200: {
      description: "The job finished within the Prefer: wait time",
      content: jobContent,
      headers: { Location: { schema: { type: "string" }, description: "the job's URL" } },
    },
    202: {
      description: "The job was accepted (or, with a replayed Idempotency-Key, the first request's job)",
      content: jobContent,
      headers: { Location: { schema: { type: "string" }, description: "the job's URL" } },
    },
    ...commonErrors,
    404: problemResponseSpec("Unknown certifier"),
    409: problemResponseSpec("A request with this Idempotency-Key is still being processed"),
    413: problemResponseSpec("Request body too large"),
    429: problemResponseSpec(
      "Rate limit exceeded, or the tenant already has MAX_QUEUED_JOBS jobs queued; see Retry-After",
    ),
    415: problemResponseSpec("The body is not application/json"),
    422: problemResponseSpec(
      "The body does not validate: a field, the input's shape or range, the parameters, or an Idempotency-Key reused with another body",
    ),
  },
});

const getJob = createRoute({
  method: "get",
  operationId: "getCertification",
  path: "/certify/{id}",
  tags: ["certify"],
  summary: "A job: status, progress and, once succeeded, the certificate",
  description:
    "`Prefer: wait=N` (N <= 60) holds the answer until the job finishes or N seconds pass (long polling).",
  security,
  request: { params: JobIdParams, headers: z.object({ prefer: preferHeader }) },
  responses: {
    200: { description: "The job", content: jobContent },
    ...commonErrors,
    404: problemResponseSpec("No such job, or another tenant's"),
  },
});

const cancelJob = createRoute({
  method: "post",
  operationId: "cancelCertification",
  path: "/certify/{id}/cancel",
  tags: ["certify"],
  summary: "Cancel a job",
  description:
    "A queued job is canceled at once, a running one within a second. Canceling a canceled job is a no-op.",
  security,
  request: { params: JobIdParams },
  responses: {
    200: { description: "The job is canceled", content: jobContent },
    202: { description: "Cancellation requested; the job stops within a second", content: jobContent },
    ...commonErrors,
    404: problemResponseSpec("No such job, or another tenant's"),
    409: problemResponseSpec("The job already finished"),
  },
});

const deleteJob = createRoute({
  method: "delete",
  operationId: "deleteCertification",
  path: "/certify/{id}",
  tags: ["certify"],
  summary: "Forget a finished job now: its input, certificate and deliveries",
  description:
    "Finished jobs are otherwise kept for JOB_RETENTION seconds. A queued or running job is a 409: cancel it first.",
  security,
  request: { params: JobIdParams },
  responses: {
    204: { description: "The job is forgotten" },
    ...commonErrors,
    404: problemResponseSpec("No such job, or another tenant's"),
    409: problemResponseSpec("The job has not finished"),
  },
});

const listJobs = createRoute({
  method: "get",
  operationId: "listCertifications",
  path: "/certify",
  tags: ["certify"],
  summary: "List the caller's tenant's jobs, newest first, a page at a time",
  security,
  request: { query: ListQuerySchema },
  responses: {
    200: {
      description: "A page of jobs; `nextCursor` (and a Link rel=next header) fetches the next",
      content: { "application/json": { schema: JobPageSchema } },
    },
    ...commonErrors,
  },
});

export function certifyRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(createJob, async (c) => {
    const { queue, catalog, allowPrivateWebhooks, maxQueuedJobs, maxDraws } = c.get("services");
    const body = c.req.valid("json");
    const headers = c.req.valid("header");
    const manifest = await catalog.get(body.certifier);
    const spec = await jobSpec(manifest, body, allowPrivateWebhooks, maxDraws);
    const fingerprint = createHash("sha256").update(JSON.stringify(body)).digest("hex");
    const key = headers["idempotency-key"];
    const submitted = await queue
      .submit(spec, {
        owner: c.get("tenant"),
        fingerprint,
        idempotencyKey: key === undefined ? undefined : `${c.get("tenant")}:${key}`,
        maxQueued: maxQueuedJobs,
      })
      .catch(submitProblem);
    const { job, waited } = await waitAsPreferred(c, queue, submitted.job, headers.prefer);
    c.header("Location", `/certify/${encodeURIComponent(job.id)}`);
    if (submitted.replayed) c.header("Idempotent-Replayed", "true");
    if (waited && TERMINAL.includes(job.status)) return c.json(presentJob(job), 200);
    return c.json(presentJob(job), 202);
  });

  app.openapi(getJob, async (c) => {
    const { id } = c.req.valid("param");
    const { queue } = c.get("services");
    const own = await ownJob(queue, id, c.get("tenant"));
    const { job } = await waitAsPreferred(c, queue, own, c.req.valid("header").prefer);
    return c.json(presentJob(job), 200);
  });

  app.openapi(cancelJob, async (c) => {
    const { id } = c.req.valid("param");
    const { queue } = c.get("services");
    await ownJob(queue, id, c.get("tenant"));
    const job = await queue.cancel(id);
    if (!job) throw noSuchJob(id);
    if (job.status === "succeeded" || job.status === "failed") {
      throw problem(409, problemTypes.conflict, "Conflict", `job ${id} already ${job.status}`);
    }
    return c.json(presentJob(job), job.status === "canceled" ? 200 : 202);
  });

  app.openapi(deleteJob, async (c) => {
    const { id } = c.req.valid("param");
    const { queue } = c.get("services");
    const job = await ownJob(queue, id, c.get("tenant"));
    // The queue forgets only a finished job.
    if (!(await queue.forget(id))) {
      throw problem(409, problemTypes.conflict, "Conflict", `job ${id} is ${job.status}: cancel it first`);
    }
    return c.body(null, 204);
  });

  app.openapi(listJobs, async (c) => {
    const query = c.req.valid("query");
    const page = await c.get("services").queue.list({ ...query, owner: c.get("tenant") });
    if (page.nextCursor !== null) {
      const next = new URLSearchParams({ cursor: page.nextCursor, limit: String(query.limit) });
      if (query.status) next.set("status", query.status);
      c.header("Link", `</certify?${next}>; rel="next"`);
    }
    return c.json({ jobs: page.jobs.map(presentJob), nextCursor: page.nextCursor }, 200);
  });

  return app;
}

/**
 * The job to queue: parameters resolved against the manifest with the seed fixed now (so that a
 * rerun is identical), the input decoded and checked, the webhook URL vetted. Whatever fails here
 * is the caller's fault, answered at once rather than left to become a failed job.
 */
async function jobSpec(
  manifest: Manifest,
  body: CertifyRequest,
  allowPrivate: boolean,
  maxDraws: number,
): Promise<JobSpec> {
  const parameters = body.parameters ?? {};
  let resolved: ResolvedParameters;
  let input: JobSpec["input"];
  try {
    resolved = resolveParameters(manifest, parameters, ["parameters"]);
    checkDraws(resolved, parameters, maxDraws);
    input = await decodeInput(manifest, body.input);
  } catch (e) {
    // Every check names the request's own field; this is the one place it becomes a problem.
    if (!(e instanceof InputError)) throw e;
    throw validationProblem(
      [fieldError(e.path, e.message)],
      e.path[0] === "input" ? { expectedShape: manifest.input.shape } : {},
    );
  }
  const webhook = body.webhook && { url: body.webhook.url, events: body.webhook.events ?? DEFAULT_EVENTS };
  if (webhook) await checkWebhook(webhook.url, allowPrivate);
  return {
    certifier: manifest.id,
    input,
    parameters: { ...parameters, seed: resolved.seed },
    resolved: resolvedForJob(manifest, resolved),
    webhook,
    metadata: body.metadata,
  };
}

/**
 * Refuses a job whose stages would each draw more than `maxDraws` (n0 + n, defaults included):
 * the schema lets n reach 1e9, hours of a worker for one certificate. Names n unless only n0 was given.
 */
function checkDraws(resolved: ResolvedParameters, given: CertifyParameters, maxDraws: number): void {
  const draws = resolved.n0 + resolved.n;
  if (maxDraws === 0 || draws <= maxDraws) return;
  const field = given.n0 !== undefined && given.n === undefined ? "n0" : "n";
  throw new InputError(
    `n0 + n is ${draws} draws per stage, more than this server's limit of ${maxDraws} (MAX_DRAWS)`,
    ["parameters", field],
  );
}

/** What a refused submission answers: the idempotency key's conflicts, or the tenant's full queue. */
function submitProblem(e: unknown): never {
  if (e instanceof QueueFullError) {
    throw new ProblemError(
      {
        type: problemTypes.tooManyQueued,
        title: "Too Many Requests",
        status: 429,
        detail: `this tenant already has ${e.maxQueued} queued jobs, the most allowed at once (MAX_QUEUED_JOBS); submit again once some have run`,
      },
      { "Retry-After": "10" },
    );
  }
  if (e instanceof IdempotencyMismatchError) {
    throw new ProblemError({
      type: problemTypes.idempotencyMismatch,
      title: "Unprocessable Content",
      status: 422,
      detail: "this Idempotency-Key was used with a different request body",
      field: "Idempotency-Key",
    });
  }
  if (e instanceof IdempotencyInFlightError) {
    throw new ProblemError(
      {
        type: problemTypes.idempotencyInFlight,
        title: "Conflict",
        status: 409,
        detail: "a request with this Idempotency-Key is still being processed; retry shortly",
        field: "Idempotency-Key",
      },
      { "Retry-After": "1" },
    );
  }
  throw e;
}

/**
 * `Prefer: wait=N`: the job once it finishes or N seconds pass (the request's end stops the wait),
 * with `Preference-Applied`; without the preference, the job as it is.
 */
async function waitAsPreferred(
  c: Context<AppEnv>,
  queue: JobQueue,
  job: Job,
  prefer: string | undefined,
): Promise<{ job: Job; waited: boolean }> {
  const wait = preferWait(prefer);
  if (wait === 0) return { job, waited: false };
  c.header("Preference-Applied", `wait=${wait}`);
  if (TERMINAL.includes(job.status)) return { job, waited: true };
  return { job: (await queue.wait(job.id, wait * 1000, c.req.raw.signal)) ?? job, waited: true };
}

/** The job `id` if `tenant` owns it; another tenant's job is as unknown as a job that never was. */
async function ownJob(queue: JobQueue, id: string, tenant: string): Promise<Job> {
  const job = await queue.get(id);
  if (!job || job.owner !== tenant) throw noSuchJob(id);
  return job;
}

function noSuchJob(id: string): ProblemError {
  return problem(404, problemTypes.notFound, "Not Found", `no job "${id}"`);
}
