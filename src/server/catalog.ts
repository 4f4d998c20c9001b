import type { Manifest } from "../core/manifest.js";
import type { ModelStore } from "../runtime/model-store.js";
import type { Catalog } from "./contract/catalog.js";
import { problem, problemTypes } from "./middleware/problem.js";

export type { Catalog };

const certifierId = /^[a-z0-9][a-z0-9._-]*$/;

/** The certifiers `store` offers, with their manifests cached for `ttlMs`. */
export function createCatalog(store: ModelStore, ttlMs = 30_000, now = Date.now): Catalog {
  let listing: { at: number; ids: Promise<string[]> } | null = null;
  const manifests = new Map<string, { at: number; manifest: Promise<Manifest> }>();

  const ids = (): Promise<string[]> => {
    if (!listing || now() - listing.at > ttlMs) {
      const pending = store.listManifests();
      listing = { at: now(), ids: pending };
      // A failed listing is not cached, so that the next request tries again.
      pending.catch(() => {
        if (listing?.ids === pending) listing = null;
      });
    }
    return listing.ids;
  };

  return {
    ids,
    async get(id) {
      // Ids are checked against the listing, so that a request can never name a path in the store.
      if (!certifierId.test(id) || id.endsWith(".json") || !(await ids()).includes(id)) {
        throw problem(404, problemTypes.notFound, "Not Found", `no certifier "${id}"`, {
          field: "certifier",
        });
      }
      const cached = manifests.get(id);
      if (cached && now() - cached.at <= ttlMs) return cached.manifest;
      const manifest = store.loadManifest(id);
      manifests.set(id, { at: now(), manifest });
      manifest.catch(() => manifests.delete(id));
      return manifest;
    },
  };
}
