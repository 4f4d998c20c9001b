import { createServer, type Server } from "node:http";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError } from "../runtime/config-error.js";
import { openModelStore } from "../runtime/open-model-store.js";
// The server's public entry only, never its internals.
import { ConfigEnv, createRedisWorker, loadConfig, registry } from "../server/index.js";
import { UsageError } from "./errors.js";

/** Settings of a worker process beyond the server's (config.ts), also from the environment. */
const WorkerEnv = z.object({
  WORKER_LOCK_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(30_000)
    .describe("BullMQ job lock, renewed at half"),
  WORKER_STALLED_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe("how often to look for jobs whose worker died"),
  WORKER_METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe("serve Prometheus metrics (job latency, samples) at http://HOST:PORT/metrics; 0 picks a port"),
  WORKER_DRAIN_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe("on SIGTERM, time for running jobs to finish before they are handed back"),
});

const names = [...Object.keys(ConfigEnv.shape), ...Object.keys(WorkerEnv.shape)];
const flagOf = (name: string) => name.toLowerCase().replaceAll("_", "-");
const shown = [
  "REDIS_URL",
  "REDIS_PREFIX",
  "MODEL_STORE",
  "MODEL_CACHE_DIR",
  "S3_ENDPOINT",
  "PROVIDERS",
  "THREADS",
  "WARM",
  "WORKER_CONCURRENCY",
  "WEBHOOK_SECRET",
  "ALLOW_PRIVATE_WEBHOOKS",
];

export const workerUsage = `Usage: dualrs worker [options]

Takes certification jobs from BullMQ on Redis (REDIS_URL) and runs them. Every option is also an
environment variable (--redis-url X is REDIS_URL=X).

${[
  ...shown.map((n) => [n, ConfigEnv.shape[n as keyof typeof ConfigEnv.shape].description] as const),
  ...Object.entries(WorkerEnv.shape).map(([n, s]) => [n, s.description] as const),
]
  .map(([name, description]) => `  --${flagOf(name).padEnd(24)} ${name}: ${description ?? ""}`)
  .join("\n")}

SIGTERM or Ctrl-C stops taking jobs, lets running ones finish (WORKER_DRAIN_MS), hands the rest back
to the queue, and exits.
`;

/** `dualrs worker`: runs jobs from Redis until SIGTERM or SIGINT. */
export async function workerCommand(argv: string[], signal: AbortSignal): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(names.map((n) => [flagOf(n), { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const flags = Object.fromEntries(names.map((n) => [n, values[flagOf(n)] as string | undefined]));
  const config = loadConfig(process.env, flags);
  if (!config.redisUrl) throw new ConfigError("invalid configuration: REDIS_URL: required by dualrs worker");
  if (config.workerConcurrency < 1)
    throw new ConfigError("invalid configuration: WORKER_CONCURRENCY: at least 1 for a worker");
  const own = Object.fromEntries(
    Object.keys(WorkerEnv.shape).flatMap((n) => {
      const v = flags[n] ?? process.env[n];
      return v ? [[n, v]] : [];
    }),
  );
  const parsed = WorkerEnv.safeParse(own);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `${String(i.path[0])} (got "${own[String(i.path[0])]}"): ${i.message}`,
    );
    throw new ConfigError(`invalid configuration: ${lines.join("; ")}`);
  }
  const env = parsed.data;
  const store = openModelStore(config.modelStore, {
    cacheDir: config.modelCacheDir,
    endpoint: config.s3Endpoint,
  });
  const worker = await createRedisWorker({
    redisUrl: config.redisUrl,
    prefix: config.redisPrefix,
    store,
    concurrency: config.workerConcurrency,
    threads: config.threads,
    providers: config.providers,
    noiseVersion: config.noiseVersion,
    warm: config.warm === "all" ? await store.listManifests().catch(() => []) : config.warm,
    webhooks: { secret: config.webhookSecret, allowPrivate: config.allowPrivateWebhooks },
    lockDurationMs: env.WORKER_LOCK_MS,
    stalledIntervalMs: env.WORKER_STALLED_MS,
    drainMs: env.WORKER_DRAIN_MS,
    retentionMs: config.jobRetentionMs,
    log: (line) => process.stderr.write(`dualrs: ${line}\n`),
  });
  const metrics =
    env.WORKER_METRICS_PORT === undefined
      ? undefined
      : await serveMetrics(config.host, env.WORKER_METRICS_PORT);
  process.stderr.write(`dualrs: worker taking jobs, ${config.workerConcurrency} at once\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  process.stderr.write("dualrs: worker stopping\n");
  await worker.close();
  metrics?.close();
}

/** The worker's own metrics: its jobs' latency and samples are counted here, not in the API. */
async function serveMetrics(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  process.stderr.write(
    `dualrs: metrics at http://${host}:${typeof address === "object" && address ? address.port : port}/metrics\n`,
  );
  return server;
}
