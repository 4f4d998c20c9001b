import type { LookupAddress, LookupAllOptions, LookupOneOptions } from "node:dns";
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** A webhook URL that may not be called; the message says why, for a problem's field error. */
export class WebhookUrlError extends Error {
  override readonly name = "WebhookUrlError";
}

export interface UrlGuardOptions {
  /** Allow private, loopback, link-local and other non-public addresses (tests, private networks). */
  allowPrivate: boolean;
}

/**
 * ::/96: ::, ::1 and the IPv4-compatible ::a.b.c.d, which some stacks route to the embedded IPv4
 * address. ipaddr.js misreads these (::8.8.8.8 as mapped, ::7f00:1, URL's spelling of
 * ::127.0.0.1, as unicast), so node's own parser decides.
 */
const zeroPrefix = new BlockList();
zeroPrefix.addSubnet("::", 96, "ipv6");

/**
 * Whether `address` is a public unicast address. Everything ipaddr.js classes otherwise is refused:
 * private, loopback, link-local, unique-local, carrier-grade NAT, multicast, reserved,
 * documentation ranges, IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo) unless
 * that address is public, and every IPv6 address in ::/96 (::, ::1, IPv4-compatible ::a.b.c.d).
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let ip = ipaddr.parse(address);
  if (ip.kind() === "ipv6") {
    if (zeroPrefix.check(address, "ipv6")) return false;
    if ((ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  }
  return ip.range() === "unicast";
}

function refuse(host: string, address: string): WebhookUrlError {
  return new WebhookUrlError(
    `the webhook host ${host} resolves to ${address}, which is not a public address (private, loopback, link-local or reserved)`,
  );
}

/** The addresses of `host`, every one of them checked. */
async function resolveChecked(host: string, options: UrlGuardOptions): Promise<LookupAddress[]> {
  const bare = host.replace(/^\[|\]$/g, "");
  let addresses: LookupAddress[];
  if (isIP(bare)) addresses = [{ address: bare, family: isIP(bare) }];
  else {
    try {
      addresses = await lookup(bare, { all: true, verbatim: true });
    } catch (e) {
      throw new WebhookUrlError(
        `the webhook host ${host} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? e})`,
      );
    }
  }
  if (addresses.length === 0) throw new WebhookUrlError(`the webhook host ${host} has no address`);
  if (!options.allowPrivate) {
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) throw refuse(host, bad.address);
  }
  return addresses;
}

/**
 * Checks a webhook URL before a job that names it is accepted: http or https, no credentials in
 * it, and a host whose every address is public unless `allowPrivate`. Throws `WebhookUrlError`.
 */
export async function checkWebhookUrl(url: string, options: UrlGuardOptions): Promise<URL> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebhookUrlError("the webhook URL is not a valid absolute URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new WebhookUrlError(`the webhook URL must be http or https, not ${u.protocol.slice(0, -1)}`);
  }
  if (u.username || u.password) throw new WebhookUrlError("the webhook URL must not hold credentials");
  if (!u.hostname) throw new WebhookUrlError("the webhook URL has no host");
  await resolveChecked(u.hostname, options);
  return u;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request that resolves and checks in one step, so the connection goes to the
 * very address that was checked: a DNS answer that changed since the job was accepted (rebinding)
 * cannot point a delivery at a private address.
 */
export function guardedLookup(options: UrlGuardOptions) {
  return (hostname: string, opts: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    resolveChecked(hostname, options).then(
      (addresses) => {
        const family = typeof opts === "object" ? opts.family : undefined;
        const fitting = addresses.filter((a) => !family || family === a.family);
        const list = fitting.length > 0 ? fitting : addresses;
        if (typeof opts === "object" && opts.all) callback(null, list);
        else callback(null, list[0]?.address ?? "", list[0]?.family ?? 4);
      },
      (e: Error) => callback(Object.assign(e, { code: "EWEBHOOKADDRESS" }), ""),
    );
  };
}
