import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { ModelStore } from "../runtime/model-store.js";
import { openModelStore } from "../runtime/open-model-store.js";
import { createApp } from "./app.js";
import { type CloudWatchOptions, startCloudWatchMetrics } from "./cloudwatch.js";
import { loadConfig, type ServerConfig } from "./config.js";
import type { JobQueue } from "./contract/jobs.js";
import { redisFailureLedger } from "./failure-ledger.js";
import { checkPortFree, portError } from "./port.js";
import { openQueue } from "./queue.js";
import { openRateLimiter } from "./rate-limiter.js";

export interface StartOptions {
  /** Settings; default: `loadConfig()` from the environment. */
  config?: ServerConfig | undefined;
  /** A model store instead of the one MODEL_STORE names. */
  store?: ModelStore | undefined;
  /** A job queue instead of the one the configuration selects; the server closes it on `close`. */
  queue?: JobQueue | undefined;
}

export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  queue: JobQueue;
  /** The app's own fetch: a request answered in process, exactly as over the socket but for the transport. */
  fetch(request: Request): Promise<Response>;
  /** Stops accepting connections, closes the queue (running jobs finish or go back), then resolves. */
  close(): Promise<void>;
}

/** Starts the API on the configured address; resolves once it listens. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const config = options.config ?? loadConfig();
  await checkPortFree(config.host, config.port).catch(async (e: unknown) => {
    await options.queue?.close(); // it was handed over to be closed with the server
    throw e;
  });
  const store =
    options.store ??
    openModelStore(config.modelStore, { cacheDir: config.modelCacheDir, endpoint: config.s3Endpoint });
  const queue = options.queue ?? (await openQueue(config, store));
  const limits = await openRateLimiter(config.rateLimit, redisOf(config)).catch(async (e: unknown) => {
    await queue.close();
    throw e;
  });
  const app = createApp({
    queue,
    store,
    apiKeys: config.apiKeys,
    metricsTenants: config.metricsTenants,
    rateLimiter: limits.limiter,
    maxQueuedJobs: config.maxQueuedJobs,
    maxDraws: config.maxDraws,
    bodyLimit: config.bodyLimit,
    allowPrivateWebhooks: config.allowPrivateWebhooks,
    webhookSecret: config.webhookSecret,
    corsOrigins: config.corsOrigins,
  });
  const { server, address } = await new Promise<{ server: ReturnType<typeof serve>; address: AddressInfo }>(
    (resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) =>
        resolve({ server: s, address: info }),
      );
      s.once("error", (e) => reject(portError(e, config.host, config.port)));
    },
  ).catch(async (e: unknown) => {
    await queue.close();
    await limits.close();
    throw e;
  });
  const metrics = config.cloudwatch
    ? startCloudWatchMetrics(queue, cloudwatchOptions(config.cloudwatch, config))
    : undefined;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    queue,
    fetch: async (request) => app.fetch(request),
    close() {
      closing ??= (async () => {
        // Stop accepting first; requests in flight (a Prefer: wait among them) end as the queue closes.
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        if ("closeIdleConnections" in server) server.closeIdleConnections();
        // The last datapoint is read from the queue, so it goes out before the queue closes.
        await metrics?.stop();
        await queue.close();
        await limits.close();
        if ("closeAllConnections" in server) server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

/** Where the API processes of one deployment share state: their queue's Redis, if any. */
function redisOf({ redisUrl, redisPrefix }: ServerConfig): { url: string; prefix: string } | undefined {
  return redisUrl ? { url: redisUrl, prefix: redisPrefix } : undefined;
}

/** On Redis, the API processes of one deployment share which failures they reported. */
function cloudwatchOptions(cloudwatch: CloudWatchOptions, config: ServerConfig): CloudWatchOptions {
  const redis = redisOf(config);
  if (!redis) return cloudwatch;
  const name = `${cloudwatch.namespace}:${cloudwatch.deployment}`;
  return { ...cloudwatch, ledger: redisFailureLedger(redis.url, redis.prefix, name) };
}
