import { isIP } from "node:net";
import { z } from "zod";
import { NOISE_VERSIONS, type NoiseVersion } from "../core/noise.js";
import { ConfigError } from "../runtime/config-error.js";
import { type ProviderConfig, parseProviders } from "../runtime/providers.js";
import { DEFAULT_RETENTION_MS } from "./jobs/record.js";
import { type ApiKey, parseApiKey, TENANT } from "./middleware/auth.js";
import type { RateLimitSettings } from "./rate-limiter.js";
import { secretKey } from "./webhooks/signature.js";

/**
 * The server's settings, from environment variables (names as below) and `dualrs serve` flags
 * (`--model-store x` sets MODEL_STORE), validated at start-up.
 */

const boolean = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");

/** The entries of a comma-separated setting, trimmed, empty ones left out. */
const commaList = (s: string): string[] =>
  s
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");

export const ConfigEnv = z
  .object({
    HOST: z.string().min(1).default("127.0.0.1").describe("address to listen on"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(8080).describe("port; 0 picks a free one"),
    MODEL_STORE: z.string().min(1).default("models").describe("a folder, or s3://bucket/prefix"),
    MODEL_CACHE_DIR: z.string().min(1).optional().describe("local copies of an S3 store's files"),
    S3_ENDPOINT: z.url().optional().describe("endpoint of an S3-compatible store"),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, "expected redis://host:port or rediss://...")
      .optional()
      .describe("use BullMQ on this Redis instead of the embedded queue"),
    REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . -")
      .default("dualrs")
      .describe("key prefix in Redis, the same for the API and its workers"),
    DATA_DIR: z.string().min(1).default("data").describe("the embedded queue's journal"),
    API_KEYS: z
      .string()
      .default("")
      .transform((s, ctx) =>
        commaList(s)
          .map((entry, i) => {
            const key = parseApiKey(entry);
            if (!key) {
              ctx.addIssue({
                code: "custom",
                message: `entry ${i + 1}: expected the sha256 of an API key (64 hex digits), or TENANT:SHA256 with a tenant of a-z 0-9 _ . -`,
              });
            }
            return key;
          })
          .filter((key): key is ApiKey => key !== null),
      )
      .describe("comma-separated sha256 hashes (hex) of the accepted API keys, each optionally TENANT:HASH"),
    METRICS_TENANTS: z
      .string()
      .default("")
      .transform((s): "*" | string[] => (s.trim() === "*" ? "*" : commaList(s)))
      .describe(
        "comma-separated tenants whose keys read every tenant's /metrics, the others a 403; *: every caller; empty: each caller its own tenant's samples",
      ),
    TENANT_WEIGHTS: z
      .string()
      .default("")
      .transform((s, ctx) =>
        Object.fromEntries(
          commaList(s).flatMap((entry, i) => {
            const [, tenant = "", weight = ""] = /^([^:]*):([^:]*)$/.exec(entry) ?? [];
            const w = Number(weight);
            if (TENANT.test(tenant) && weight !== "" && Number.isFinite(w) && w > 0) return [[tenant, w]];
            ctx.addIssue({
              code: "custom",
              message: `entry ${i + 1}: expected TENANT:WEIGHT with a weight above 0, as in team-a:4`,
            });
            return [];
          }),
        ),
      )
      .describe(
        "comma-separated TENANT:WEIGHT: a tenant's share of the workers against weight 1, the default",
      ),
    WEBHOOK_SECRET: z
      .string()
      .refine((v) => {
        try {
          return secretKey(v).length > 0;
        } catch {
          return false;
        }
      }, "expected whsec_ followed by at least 16 bytes in base64")
      .optional()
      .describe("Standard Webhooks signing secret (whsec_...)"),
    RATE_LIMIT: z.coerce
      .number()
      .int()
      .min(0)
      .default(600)
      .describe("requests per window per tenant, shared by the API processes on one Redis; 0: off"),
    RATE_LIMIT_WINDOW: z.coerce
      .number()
      .int()
      .positive()
      .default(60)
      .describe("rate-limit window in whole seconds"),
    JOB_RETENTION: z.coerce
      .number()
      .int()
      .min(60)
      .default(DEFAULT_RETENTION_MS / 1000)
      .describe("seconds a finished job (its input and certificate) is kept before it is forgotten"),
    MAX_QUEUED_JOBS: z.coerce
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe("queued jobs a tenant may have at once; past it POST /certify answers 429; 0: no cap"),
    MAX_DRAWS: z.coerce
      .number()
      .int()
      .min(0)
      .default(1_000_000)
      .describe(
        "most draws a certificate may ask for per stage, n0 + n; past it POST /certify answers 422; 0: no cap",
      ),
    BODY_LIMIT: z.coerce
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024)
      .describe("largest request body, bytes"),
    ALLOW_PRIVATE_WEBHOOKS: boolean
      .default(false)
      .describe("allow webhooks to private, loopback or link-local addresses"),
    PROVIDERS: z
      .string()
      .default("auto")
      .transform((s, ctx): ProviderConfig => {
        try {
          return parseProviders(s);
        } catch (e) {
          ctx.addIssue({ code: "custom", message: (e as Error).message });
          return z.NEVER;
        }
      })
      .describe("execution providers: auto, cpu, webgpu, cuda, or a list such as cuda,cpu"),
    NOISE_GENERATOR: z
      .enum(["philox4x32-10", "squares32"])
      .optional()
      .describe("noise generator; default: squares32 on a GPU provider, philox4x32-10 on the CPU"),
    THREADS: z.coerce
      .number()
      .int()
      .min(0)
      .max(256)
      .optional()
      .describe("onnxruntime threads per certification thread; default: the cores divided among them"),
    WARM: z
      .string()
      .default("all")
      .transform((s): "all" | string[] => {
        const t = s.trim();
        if (t === "all") return "all";
        return t === "none" ? [] : commaList(t);
      })
      .describe("certifiers loaded before /readyz says ready: all, none, or a comma-separated list"),
    WORKER_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(0)
      .max(64)
      .default(1)
      .describe("certification threads in this process, and jobs run at once; 0: API only (with REDIS_URL)"),
    CORS_ORIGINS: z
      .string()
      .default("")
      .transform((s, ctx): "*" | string[] => {
        if (s.trim() === "*") return "*";
        const origins = commaList(s);
        for (const o of origins) {
          if (!isOrigin(o)) {
            ctx.addIssue({
              code: "custom",
              message: `"${o}" is not an origin such as https://app.example.com`,
            });
            return z.NEVER;
          }
        }
        return origins;
      })
      .describe("browser origins allowed to call the API: comma-separated, or *; default: same origin only"),
    CLOUDWATCH_NAMESPACE: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9 ._\-/#:]+$/, "letters, digits, spaces and . _ - / # :")
      .refine((s) => !s.startsWith("AWS/"), "AWS/ namespaces are reserved for AWS services")
      .optional()
      .describe("publish queue metrics to CloudWatch in this namespace (with DEPLOYMENT_NAME)"),
    DEPLOYMENT_NAME: z
      .string()
      .max(1024)
      .optional()
      .describe("the CloudWatch metrics' Deployment dimension (the stack name)"),
    CLOUDWATCH_ENDPOINT: z.url().optional().describe("CloudWatch endpoint instead of the region's"),
    CLOUDWATCH_INTERVAL: z.coerce
      .number()
      .min(0.1)
      .max(3600)
      .default(60)
      .describe("seconds between CloudWatch metric publishes"),
  })
  .superRefine((env, ctx) => {
    if (env.API_KEYS.length === 0 && !isLoopback(env.HOST)) {
      ctx.addIssue({
        code: "custom",
        path: ["API_KEYS"],
        message: `required to listen on ${env.HOST}, beyond loopback: set the sha256 of at least one API key`,
      });
    }
    const tenants = new Set(env.API_KEYS.map((k) => k.tenant));
    const named = [
      ...(env.METRICS_TENANTS === "*" ? [] : env.METRICS_TENANTS).map((t) => ["METRICS_TENANTS", t] as const),
      ...Object.keys(env.TENANT_WEIGHTS).map((t) => ["TENANT_WEIGHTS", t] as const),
    ];
    for (const [setting, tenant] of named.filter(([, t]) => !tenants.has(t))) {
      ctx.addIssue({
        code: "custom",
        path: [setting],
        message: `"${tenant}" is no tenant of API_KEYS (name the TENANT of a TENANT:HASH entry)`,
      });
    }
    if (env.WORKER_CONCURRENCY === 0 && !env.REDIS_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["WORKER_CONCURRENCY"],
        message: "0 (no local worker) needs REDIS_URL, where separate workers take the jobs",
      });
    }
    if (env.CLOUDWATCH_NAMESPACE && !env.DEPLOYMENT_NAME) {
      ctx.addIssue({
        code: "custom",
        path: ["DEPLOYMENT_NAME"],
        message: "required with CLOUDWATCH_NAMESPACE: the value of the metrics' Deployment dimension",
      });
    }
  });

export interface ServerConfig {
  host: string;
  port: number;
  modelStore: string;
  modelCacheDir: string;
  s3Endpoint: string | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  dataDir: string;
  apiKeys: ApiKey[];
  /** Tenants that read every tenant's /metrics, the others a 403; `*`: every caller; empty: each its own samples. */
  metricsTenants: "*" | string[];
  /** Each named tenant's share of the workers, against 1 for the others. */
  tenantWeights: Record<string, number>;
  webhookSecret: string | undefined;
  rateLimit: RateLimitSettings;
  /** Queued jobs a tenant may have at once; 0: no cap. */
  maxQueuedJobs: number;
  /** Draws per stage (n0 + n) a job may ask for; 0: no cap. */
  maxDraws: number;
  /** How long a finished job is kept. */
  jobRetentionMs: number;
  bodyLimit: number;
  allowPrivateWebhooks: boolean;
  providers: ProviderConfig;
  /** Absent: the default for the providers (squares32 on a GPU, Philox4x32-10 on the CPU). */
  noiseVersion: NoiseVersion | undefined;
  workerConcurrency: number;
  threads: number | undefined;
  warm: "all" | string[];
  /** Origins whose pages may call the API (CORS); none: same origin only. */
  corsOrigins: "*" | string[];
  /** Publish queue metrics to CloudWatch; undefined: off. */
  cloudwatch:
    | { namespace: string; deployment: string; endpoint: string | undefined; intervalMs: number }
    | undefined;
}

export { ConfigError };

/** Settings from `env` (process.env by default) with `overrides` (flags) on top. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Record<string, string | undefined> = {},
): ServerConfig {
  const known = Object.keys(ConfigEnv.shape);
  const source: Record<string, string> = {};
  for (const [k, v] of [...Object.entries(env), ...Object.entries(overrides)]) {
    // An empty variable counts as unset, as shells and compose files often leave them.
    if (known.includes(k) && v !== undefined && v !== "") source[k] = v;
  }
  const parsed = ConfigEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? "configuration");
      const value = source[name];
      const shown = value === undefined || name === "WEBHOOK_SECRET" ? "" : ` (got "${value}")`;
      return `${name}${shown}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${lines.join("; ")}`);
  }
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    modelStore: e.MODEL_STORE,
    modelCacheDir: e.MODEL_CACHE_DIR ?? `${e.DATA_DIR}/model-cache`,
    s3Endpoint: e.S3_ENDPOINT,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    dataDir: e.DATA_DIR,
    apiKeys: e.API_KEYS,
    metricsTenants: e.METRICS_TENANTS,
    tenantWeights: e.TENANT_WEIGHTS,
    webhookSecret: e.WEBHOOK_SECRET,
    rateLimit: { limit: e.RATE_LIMIT, windowSeconds: e.RATE_LIMIT_WINDOW },
    maxQueuedJobs: e.MAX_QUEUED_JOBS,
    maxDraws: e.MAX_DRAWS,
    jobRetentionMs: e.JOB_RETENTION * 1000,
    bodyLimit: e.BODY_LIMIT,
    allowPrivateWebhooks: e.ALLOW_PRIVATE_WEBHOOKS,
    providers: e.PROVIDERS,
    noiseVersion: NOISE_VERSIONS.find((v) => v.split("/")[0] === e.NOISE_GENERATOR),
    workerConcurrency: e.WORKER_CONCURRENCY,
    threads: e.THREADS,
    warm: e.WARM,
    corsOrigins: e.CORS_ORIGINS,
    cloudwatch:
      e.CLOUDWATCH_NAMESPACE && e.DEPLOYMENT_NAME
        ? {
            namespace: e.CLOUDWATCH_NAMESPACE,
            deployment: e.DEPLOYMENT_NAME,
            endpoint: e.CLOUDWATCH_ENDPOINT,
            intervalMs: e.CLOUDWATCH_INTERVAL * 1000,
          }
        : undefined,
  };
}

/** Whether `s` is exactly an http(s) origin: scheme, host and optional port, nothing more. */
function isOrigin(s: string): boolean {
  try {
    const url = new URL(s);
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === s;
  } catch {
    return false;
  }
}

/** Whether `host` only reaches this machine: a loopback address or `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h.startsWith("::ffff:127.");
  return false;
}
