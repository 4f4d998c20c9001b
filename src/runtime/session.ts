import * as ort from "onnxruntime-node";
import type { ProviderName } from "./providers.js";

export interface SessionConfig {
  /** Resolved providers, in order of preference (see resolveProviders). */
  readonly providers: readonly ProviderName[];
  /** Threads per operator on the CPU; absent or 0: onnxruntime's default (one per core). */
  readonly threads?: number | undefined;
}

export type Session = ort.InferenceSession;

/** One inference session over model bytes, fully optimized. */
export function createSession(model: Uint8Array, config: SessionConfig): Promise<Session> {
  return ort.InferenceSession.create(model, {
    executionProviders: [...config.providers],
    graphOptimizationLevel: "all",
    intraOpNumThreads: config.threads ?? 0,
    executionMode: "sequential",
  });
}

/**
 * Sessions by key, each created once: creating one compiles the graph, which costs far more than
 * a run. Concurrent gets of the same key share one creation.
 */
export class SessionCache {
  readonly #sessions = new Map<string, Promise<Session>>();

  constructor(readonly config: SessionConfig) {}

  get size(): number {
    return this.#sessions.size;
  }

  get(key: string, load: () => Promise<Uint8Array>): Promise<Session> {
    let session = this.#sessions.get(key);
    if (!session) {
      session = load().then((model) => createSession(model, this.config));
      // A failed creation is not cached, so that a later get can try again.
      session.catch(() => this.#sessions.delete(key));
      this.#sessions.set(key, session);
    }
    return session;
  }

  /** Releases every session; the cache is empty afterwards. */
  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    const settled = await Promise.allSettled(sessions);
    await Promise.all(settled.map((s) => (s.status === "fulfilled" ? s.value.release() : undefined)));
  }
}
