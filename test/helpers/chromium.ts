import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium (apt-get install chromium); playwright-core drives it and never downloads one. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Headless Chromium with its background networking off: this machine reaches only loopback and
 * the package registries, and Chromium's own connections would only be refused.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
