import { WebhookVerificationError } from "../errors.js";
import { type RequestOptions, send, type Transport } from "../request.js";
import type { Job, JobEvent, WebhookSecret } from "../types.js";

/** A webhook's payload, after verification: the event, when it happened, and the job's state. */
export interface WebhookEvent {
  type: JobEvent;
  timestamp: string;
  /** The job as `jobs.get()` returns it, less its deliveries. */
  data: Omit<Job, "deliveries">;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

/** Standard Webhooks: timestamps further than this from now are refused, against replays. */
const TOLERANCE_S = 300;

const bytes = (s: string) => new TextEncoder().encode(s);
const unbase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/**
 * The signing secret of the caller's webhook deliveries, and verification of those deliveries
 * (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
 */
export class Webhooks {
  constructor(private readonly t: Transport) {}

  /**
   * `GET /webhooks/secret`: the `whsec_...` secret that signs the deliveries of this API key's
   * tenant (each tenant has its own), to give to `verify`.
   */
  async secret(options?: RequestOptions): Promise<string> {
    const answer = await send<WebhookSecret>(this.t, { ...options, method: "GET", path: "/webhooks/secret" });
    return answer.secret;
  }

  /**
   * Checks the signature of a delivery and returns its parsed payload. `body` must be the raw
   * request body, unparsed; `secret` is the `whsec_...` signing secret. Signatures are checked with
   * Web Crypto's HMAC verify, which compares in constant time.
   */
  async verify(body: string | Uint8Array, headers: HeaderBag, secret: string): Promise<WebhookEvent> {
    const get = (name: string) => {
      const v = headers instanceof Headers ? headers.get(name) : headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const id = get("webhook-id");
    const timestamp = get("webhook-timestamp");
    const signatures = get("webhook-signature");
    if (!id || !timestamp || !signatures) throw new WebhookVerificationError("missing webhook headers");
    const seconds = Number(timestamp);
    if (!(Math.abs(Date.now() / 1000 - seconds) <= TOLERANCE_S)) {
      throw new WebhookVerificationError("webhook timestamp too old or too new");
    }
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey(
        "raw",
        unbase64(secret.replace(/^whsec_/, "")),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      );
    } catch (e) {
      throw new WebhookVerificationError("invalid webhook secret", { cause: e });
    }
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    const signed = bytes(`${id}.${timestamp}.${text}`);
    for (const entry of signatures.split(" ")) {
      const [version, signature] = entry.split(",");
      if (version !== "v1" || !signature) continue;
      let mac: Uint8Array<ArrayBuffer>;
      try {
        mac = unbase64(signature);
      } catch {
        continue;
      }
      if (await crypto.subtle.verify("HMAC", key, mac, signed)) return JSON.parse(text);
    }
    throw new WebhookVerificationError("no matching webhook signature");
  }
}
