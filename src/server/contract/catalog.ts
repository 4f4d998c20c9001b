import type { Manifest } from "../../core/manifest.js";

/**
 * The certifiers a store offers, with their manifests cached (a store may be remote). The type lives
 * here, apart from its implementation (catalog.ts), so that the routes' environment (env.ts) names it
 * without importing what catalog.ts imports (the problems of middleware/, which import env.ts).
 */
export interface Catalog {
  ids(): Promise<string[]>;
  /** The manifest of certifier `id`; a 404 problem when the store has none. */
  get(id: string): Promise<Manifest>;
}
