import { z } from "zod";

/**
 * Deployment settings, from CDK context (`cdk deploy -c key=value` or `infra/cdk.json`). Context
 * values given on the command line arrive as strings, hence the coercions. Nothing here is
 * account-specific; the account and region come from the CDK environment.
 */

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const positive = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** An API_KEYS entry as the server reads it: a key's sha256, optionally after `TENANT:`. */
const apiKeyEntry = /^(?:[a-z0-9][a-z0-9_.-]{0,63}:)?[0-9a-f]{64}$/;
const tenantName = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** The tenant an API_KEYS entry acts for, as the server names it: TENANT, or `key-` and 12 hex digits. */
const tenantOf = (entry: string) => (entry.includes(":") ? entry.split(":")[0] : `key-${entry.slice(0, 12)}`);
/** `TENANT:WEIGHT` with a weight above 0, as the API's TENANT_WEIGHTS takes it. */
const isTenantWeight = (entry: string) => {
  const [, tenant = "", weight = ""] = /^([^:]*):([^:]*)$/.exec(entry) ?? [];
  const w = Number(weight);
  return tenantName.test(tenant) && weight !== "" && Number.isFinite(w) && w > 0;
};
const commaList = (s: string) =>
  s
    .split(",")
    .map((k) => k.trim().toLowerCase())
    .filter(Boolean);

export const DeployContext = z
  .object({
    /** EC2 instance type of the GPU workers: one GPU each (g4dn.xlarge: NVIDIA T4; g5.xlarge: A10G). */
    instanceType: z
      .string()
      .regex(/^[a-z0-9-]+\.[a-z0-9]+$/)
      .default("g4dn.xlarge"),
    workersMin: count(0),
    workersMax: positive(4),
    /** Jobs (waiting or running) per worker above which workers are added. */
    backlogPerWorker: positive(4),
    workerCpu: positive(3072),
    workerMemoryMiB: positive(12_288),
    apiMin: positive(2),
    apiMax: positive(6),
    apiCpu: positive(1024),
    apiMemoryMiB: positive(2048),
    /** ALB requests per API task per minute that the API scales to hold. */
    apiRequestsPerTask: positive(1000),
    /** ACM certificate for HTTPS on the load balancer; without it the API listens on HTTP only. */
    certificateArn: z.string().startsWith("arn:").optional(),
    /** Who may reach the load balancer. */
    ingressCidr: z.string().default("0.0.0.0/0"),
    redisNodeType: z.string().default("cache.t4g.small"),
    redisReplicas: z.coerce.number().int().min(1).max(5).default(1),
    /** A port other than 6379, as the ElastiCache rule pack asks. */
    redisPort: z.coerce.number().int().min(1024).max(65_535).default(6380),
    logRetentionDays: positive(30),
    maxAzs: z.coerce.number().int().min(2).max(6).default(2),
    natGateways: z.coerce.number().int().min(1).max(6).default(1),
    /** Comma-separated sha256 (hex) of the accepted API keys, each optionally `TENANT:HASH`: the initial value of the API-keys secret. */
    apiKeyHashes: z
      .string()
      .transform(commaList)
      .refine(
        (keys) => keys.length > 0 && keys.every((k) => apiKeyEntry.test(k)),
        "expected sha256 hex digests, each optionally TENANT:SHA256",
      )
      .optional(),
    /** An existing Secrets Manager secret whose value is the comma-separated API key hashes. */
    apiKeysSecretArn: z.string().startsWith("arn:").optional(),
    /** Requests per window per tenant (the API's RATE_LIMIT); absent: the API's default, 600. */
    rateLimit: z.coerce.number().int().min(0).optional(),
    /** The rate-limit window in seconds (RATE_LIMIT_WINDOW); absent: 60. */
    rateLimitWindow: z.coerce.number().int().positive().optional(),
    /** Queued jobs a tenant may have at once (MAX_QUEUED_JOBS); absent: 1000. */
    maxQueuedJobs: z.coerce.number().int().min(0).optional(),
    /** Draws per stage a job may ask for (MAX_DRAWS); absent: 1,000,000. */
    maxDraws: z.coerce.number().int().min(0).optional(),
    /**
     * Comma-separated tenants whose keys read every tenant's /metrics, or * for every key
     * (METRICS_TENANTS); absent: each key reads its own tenant's samples only.
     */
    metricsTenants: z
      .string()
      .transform((s) => (s.trim() === "*" ? ["*"] : commaList(s)))
      .refine(
        (t) => t.join() === "*" || t.every((name) => tenantName.test(name)),
        "expected tenant names, comma-separated, or *",
      )
      .optional(),
    /** Comma-separated TENANT:WEIGHT, each tenant's share of the workers (TENANT_WEIGHTS); absent: all 1. */
    tenantWeights: z
      .string()
      .transform(commaList)
      .refine(
        (t) => t.every(isTenantWeight),
        "expected TENANT:WEIGHT entries with weights above 0, comma-separated",
      )
      .optional(),
    /** Alarms are sent to this address too (they always go to the stack's SNS topic). */
    alarmEmail: z.email().optional(),
    /** A prebuilt image in this account's ECR (`repository:tag`); absent: built from the repository's Dockerfile. */
    image: z
      .string()
      .regex(/^[a-z0-9._/-]+:[\w.-]+$/)
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.apiKeyHashes === !c.apiKeysSecretArn) {
      ctx.addIssue({
        code: "custom",
        path: ["apiKeyHashes"],
        message: "give exactly one of apiKeyHashes and apiKeysSecretArn",
      });
    }
    if (c.workersMin > c.workersMax) {
      ctx.addIssue({ code: "custom", path: ["workersMin"], message: "must not exceed workersMax" });
    }
    if (c.apiMin > c.apiMax)
      ctx.addIssue({ code: "custom", path: ["apiMin"], message: "must not exceed apiMax" });
    // The API refuses to start on a METRICS_TENANTS that no key acts for; say so before deploying.
    // Keys kept in an existing secret cannot be read here, so only apiKeyHashes is checked.
    const tenants = new Set((c.apiKeyHashes ?? []).map(tenantOf));
    const named = [
      ...(c.metricsTenants ?? [])
        .filter((name) => name !== "*")
        .map((name) => ["metricsTenants", name] as const),
      ...(c.tenantWeights ?? []).map((entry) => ["tenantWeights", entry.split(":")[0] ?? ""] as const),
    ];
    for (const [key, name] of c.apiKeyHashes ? named : []) {
      if (!tenants.has(name))
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `"${name}" is no tenant of apiKeyHashes (name the TENANT of a TENANT:HASH entry)`,
        });
    }
  });

export type DeployConfig = z.output<typeof DeployContext>;

/** Reads and validates the settings; the error names every bad context key. */
export function deployConfig(context: Record<string, unknown>): DeployConfig {
  const known = Object.keys(DeployContext.shape);
  const source = Object.fromEntries(
    Object.entries(context).filter(([k, v]) => known.includes(k) && v !== ""),
  );
  const parsed = DeployContext.safeParse(source);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues.map((i) => `-c ${String(i.path[0] ?? "")}: ${i.message}`).join("; ");
  throw new Error(`invalid deployment context: ${detail}`);
}
