import { dirname, resolve } from "node:path";
import { loadCertifier, noiseModeFor, type RuntimeCertifier } from "../runtime/certifier.js";
import { localModelStore } from "../runtime/model-store.js";
import { resolveProviders } from "../runtime/providers.js";
import { ThreadPool } from "../runtime/threads/pool.js";
import type { Certification } from "./args.js";

/**
 * The certifier of the manifest at `path`, its models looked up next to it: loaded on this thread,
 * or with `--workers` W > 1, on W certification threads that each certificate's batches spread
 * over (the runtime's thread pool, which the service uses too; the certificate is the same).
 */
export async function openCertifier(path: string, c: Certification): Promise<RuntimeCertifier> {
  // An absolute path always reads as a path, never as a manifest id.
  const ref = resolve(path);
  const store = localModelStore(dirname(ref));
  const { threads, noiseVersion } = c;
  if (c.workers <= 1)
    return loadCertifier(store, ref, { providers: c.providers, noise: c.noise, threads, noiseVersion });
  const providers = await resolveProviders(c.providers);
  const noise = c.noise ?? noiseModeFor(providers);
  const pool = new ThreadPool(store, { providers, noise, threads, noiseVersion }, c.workers, 750);
  try {
    // Every thread loads it now, so that a bad model fails before any input is certified.
    await pool.load(ref);
    const certifier = pool.certifier(ref, await store.loadManifest(ref));
    return { ...certifier, noiseMode: noise, close: () => pool.close() };
  } catch (e) {
    await pool.close();
    throw e;
  }
}
