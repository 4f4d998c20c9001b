import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { routePath } from "hono/route";
import { type RateLimiterAbstract, RateLimiterMemory } from "rate-limiter-flexible";
import type { ModelStore } from "../runtime/model-store.js";
import { createCatalog } from "./catalog.js";
import type { JobQueue } from "./contract/jobs.js";
import type { AppEnv, Services } from "./env.js";
import { httpRequests } from "./metrics/registry.js";
import { type ApiKey, apiKeyAuth, onlyTenants } from "./middleware/auth.js";
import { bodyLimit } from "./middleware/body-limit.js";
import { type CorsOrigins, cors } from "./middleware/cors.js";
import { notFound, onError } from "./middleware/problem.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { securityHeaders } from "./middleware/security-headers.js";
import { createApi, openApiDocument } from "./openapi.js";
import { docsRoutes } from "./routes/docs.js";
import { webRoutes } from "./routes/web.js";

export interface AppOptions {
  queue: JobQueue;
  store: ModelStore;
  /** The accepted API keys (hashes and tenants); none: every caller is anonymous (loopback only). */
  apiKeys?: readonly ApiKey[] | undefined;
  /**
   * Tenants whose keys read all of `/metrics`, which spans every tenant; the others get a 403. `*`:
   * every caller reads all. None (the default): each caller reads its own tenant's samples only.
   */
  metricsTenants?: "*" | readonly string[] | undefined;
  /** Requests per tenant (`openRateLimiter`); null: no limit. Default 600 per 60 s in this process. */
  rateLimiter?: RateLimiterAbstract | null | undefined;
  /** Queued jobs a tenant may have at once; past it a new job is a 429. Default 1000; 0: no cap. */
  maxQueuedJobs?: number | undefined;
  /** Draws per stage (n0 + n) a job may ask for; past it a new job is a 422. Default 1,000,000; 0: no cap. */
  maxDraws?: number | undefined;
  /** Largest request body in bytes; default 4 MiB. */
  bodyLimit?: number | undefined;
  allowPrivateWebhooks?: boolean | undefined;
  /** The webhook signing secret (`whsec_...`) the queue signs with, for `GET /webhooks/secret`. */
  webhookSecret?: string | undefined;
  /** Browser pages on other origins that may call the API: `*` or a list; default none (same origin only). */
  corsOrigins?: CorsOrigins | undefined;
  /** The web page's folder, as `npm run build` writes it; default: dist/web beside the built server. */
  webDir?: string | undefined;
}

/** Paths that need an API key (when keys are configured) and count against the rate limit; `/x/*` matches `/x` too. */
const guarded = ["/certify/*", "/certifiers/*", "/webhooks/*", "/metrics"];

/** The HTTP API on `queue` and `store`, as a Hono app (serve its `fetch` anywhere). */
export function createApp(options: AppOptions): OpenAPIHono<AppEnv> {
  const services: Services = {
    queue: options.queue,
    store: options.store,
    catalog: createCatalog(options.store),
    allowPrivateWebhooks: options.allowPrivateWebhooks ?? false,
    webhookSecret: options.webhookSecret,
    maxQueuedJobs: options.maxQueuedJobs ?? 1000,
    metricsOf: metricsScope(options.metricsTenants ?? [], (options.apiKeys ?? []).length > 0),
    maxDraws: options.maxDraws ?? 1_000_000,
  };
  const app = new OpenAPIHono<AppEnv>();
  app.onError(onError);
  app.notFound(notFound);
  // First, so that every answer gets the headers, errors and other middleware's answers included.
  app.use(securityHeaders());
  app.use(requestId());
  app.use(countRequests());
  // Before the key check: a preflight carries no Authorization header.
  const origins = options.corsOrigins ?? [];
  if (origins === "*" || origins.length > 0) app.use(cors(origins));
  app.use(async (c, next) => {
    c.set("services", services);
    await next();
  });
  const auth = apiKeyAuth(options.apiKeys ?? []);
  const limiter =
    options.rateLimiter === undefined
      ? new RateLimiterMemory({ points: 600, duration: 60 })
      : options.rateLimiter;
  for (const path of guarded) {
    app.use(path, auth);
    if (limiter) app.use(path, rateLimit(limiter));
  }
  if (Array.isArray(options.metricsTenants)) app.use("/metrics", onlyTenants(options.metricsTenants));
  app.use(bodyLimit(options.bodyLimit ?? 4 * 1024 * 1024));

  const api = createApi();
  const document = openApiDocument(api);
  app.route("/", api);
  app.get("/openapi.json", (c) => c.json(document));
  app.route("/", docsRoutes());
  app.route("/", webRoutes(options.webDir));
  return app;
}

/**
 * Whose samples a tenant's `/metrics` shows: every tenant's (undefined) for the named tenants, for
 * everyone with `*`, and without API keys, where the one caller is the operator; else its own.
 */
function metricsScope(
  tenants: "*" | readonly string[],
  keyed: boolean,
): (tenant: string) => string | undefined {
  return (tenant) => (!keyed || tenants === "*" || tenants.includes(tenant) ? undefined : tenant);
}

/** Counts answered requests by route pattern (not raw path, which would grow without bound). */
function countRequests(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    httpRequests.inc({ method: c.req.method, route: routePath(c, -1), status: String(c.res.status) });
  };
}
