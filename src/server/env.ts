import type { ModelStore } from "../runtime/model-store.js";
import type { Catalog } from "./contract/catalog.js";
import type { JobQueue } from "./contract/jobs.js";

/** What the routes need at request time; set on the context by `createApp`. */
export interface Services {
  queue: JobQueue;
  store: ModelStore;
  catalog: Catalog;
  /** Refuse webhook URLs on private, loopback or link-local addresses unless true. */
  allowPrivateWebhooks: boolean;
  /** The server's webhook signing secret, from which each tenant's is derived; none: no webhooks. */
  webhookSecret: string | undefined;
  /** Queued jobs a tenant may have at once; 0: no cap. */
  maxQueuedJobs: number;
  /** Draws per stage (n0 + n) a job may ask for; 0: no cap. */
  maxDraws: number;
  /** The tenant whose samples alone `/metrics` shows this caller; undefined: every tenant's. */
  metricsOf: (tenant: string) => string | undefined;
}

/** The Hono environment of the app: its context variables. */
export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    /** Whom the caller acts for: the jobs it may see, and the scope of its idempotency keys. */
    tenant: string;
  };
}
