import type { Transport } from "./request.js";
import { Certifiers } from "./resources/certifiers.js";
import { Certify } from "./resources/certify.js";
import { Webhooks } from "./resources/webhooks.js";

export interface ClientOptions {
  /** The API's address. Default: the page's origin in a browser, else http://127.0.0.1:8080. */
  baseURL?: string | undefined;
  /** Sent as `Authorization: Bearer`; the API asks for one whenever it listens beyond loopback. */
  apiKey?: string | null | undefined;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch | undefined;
  /** Retries of a failed request that is safe to resend. Default 2. */
  maxRetries?: number | undefined;
  /** Milliseconds per attempt. Default 60 000. */
  timeout?: number | undefined;
}

/** The dualrs API client: runs wherever `fetch` and Web Crypto exist. */
export class Dualrs {
  readonly certify: Certify;
  readonly certifiers: Certifiers;
  readonly webhooks: Webhooks;

  constructor(options: ClientOptions = {}) {
    const t: Transport = {
      baseURL: options.baseURL ?? globalThis.location?.origin ?? "http://127.0.0.1:8080",
      apiKey: options.apiKey ?? null,
      // Bound, as some runtimes refuse a fetch called with another `this`.
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      maxRetries: options.maxRetries ?? 2,
      timeout: options.timeout ?? 60_000,
    };
    this.certify = new Certify(t);
    this.certifiers = new Certifiers(t);
    this.webhooks = new Webhooks(t);
  }
}
