import { type RequestOptions, send, type Transport } from "../request.js";
import type { Certifier } from "../types.js";

/** `GET /certifiers`: what each certifier accepts and returns. */
export class Certifiers {
  constructor(private readonly t: Transport) {}

  async list(options?: RequestOptions): Promise<Certifier[]> {
    const page = await send<{ certifiers: Certifier[] }>(this.t, {
      ...options,
      method: "GET",
      path: "/certifiers",
    });
    return page.certifiers;
  }

  get(id: string, options?: RequestOptions): Promise<Certifier> {
    return send(this.t, { ...options, method: "GET", path: `/certifiers/${encodeURIComponent(id)}` });
  }
}
