import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { signatureHeaders } from "./signature.js";
import { checkWebhookUrl, guardedLookup, type UrlGuardOptions } from "./url-guard.js";

export interface AttemptResult {
  /** HTTP status of the receiver, or null when it could not be reached. */
  status: number | null;
  ok: boolean;
  error?: string | undefined;
}

export interface Delivery {
  url: string;
  id: string;
  body: string;
  key: Buffer;
  guard: UrlGuardOptions;
  timeoutMs: number;
}

/**
 * One signed POST of a webhook. The URL is checked again now, and the connection is made to the
 * address that the check resolved, so that a host that now resolves elsewhere is refused.
 */
export async function deliverOnce(d: Delivery): Promise<AttemptResult> {
  let url: URL;
  try {
    url = await checkWebhookUrl(d.url, d.guard);
  } catch (e) {
    return { status: null, ok: false, error: (e as Error).message };
  }
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    "content-type": "application/json",
    "user-agent": "dualrs-webhooks",
    ...signatureHeaders(d.key, d.id, timestamp, d.body),
  };
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: "POST", headers, lookup: guardedLookup(d.guard), timeout: d.timeoutMs },
      (res) => {
        res.resume();
        res.on("end", () => {
          const status = res.statusCode ?? null;
          const ok = status !== null && status >= 200 && status < 300;
          resolve({ status, ok, ...(ok ? {} : { error: `the receiver answered ${status}` }) });
        });
        res.on("error", (e) => resolve({ status: res.statusCode ?? null, ok: false, error: e.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${d.timeoutMs} ms`)));
    req.on("error", (e) => resolve({ status: null, ok: false, error: e.message }));
    req.end(d.body);
  });
}
