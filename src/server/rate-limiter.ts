import { Redis } from "ioredis";
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";

export interface RateLimitSettings {
  /** Requests a tenant may make per window; 0 turns the limit off. */
  limit: number;
  windowSeconds: number;
}

export interface OpenRateLimiter {
  /** null when the limit is off. */
  limiter: RateLimiterAbstract | null;
  close(): Promise<void>;
}

/**
 * The limiter of RATE_LIMIT requests per RATE_LIMIT_WINDOW and tenant. On Redis its counts live
 * under `<prefix>:rate:`, shared by every API process of the deployment, so that the limit holds
 * however many processes serve it; while Redis cannot be reached each process counts alone (the
 * library's insurance limiter) rather than refuse or wave through every request. Without Redis it
 * counts in this process.
 */
export async function openRateLimiter(
  { limit, windowSeconds }: RateLimitSettings,
  redis?: { url: string; prefix: string },
): Promise<OpenRateLimiter> {
  if (limit <= 0) return { limiter: null, close: async () => {} };
  const window = { points: limit, duration: windowSeconds };
  const memory = new RateLimiterMemory(window);
  if (!redis) return { limiter: memory, close: async () => {} };
  // No offline queue: a request must not wait for a reconnect, the insurance limiter answers instead.
  // Connected before the API serves, as the queue is, so that the first requests count in Redis too.
  const client = new Redis(redis.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
  });
  client.on("error", () => {});
  await client.connect().catch((e: unknown) => {
    client.disconnect();
    throw e;
  });
  const limiter = new RateLimiterRedis({
    ...window,
    storeClient: client,
    keyPrefix: `${redis.prefix}:rate`,
    insuranceLimiter: memory,
  });
  return {
    limiter,
    async close() {
      client.disconnect();
    },
  };
}
