import type { Certificate } from "../../core/certificate.js";
import type { CertifyParameters } from "../../core/parameters.js";
import type { NoiseMode } from "../../runtime/certifier.js";
import type { ProviderConfig } from "../../runtime/providers.js";
import type { ErrorInfo } from "./errors.js";

/** Messages between the runner (main thread) and a certification thread. */

export interface ThreadData {
  providers: ProviderConfig | undefined;
  noise: NoiseMode | undefined;
  threads: number | undefined;
  /** At most one progress message per this many milliseconds. */
  progressIntervalMs: number;
}

export type ToThread =
  | { type: "run"; id: number; certifier: string; input: Float32Array; parameters: CertifyParameters }
  | { type: "cancel"; id: number }
  /** Release the sessions and exit; sent only once every request is answered. */
  | { type: "close" }
  | { type: "load"; id: number; certifier: string }
  | { type: "store"; req: number; ok: true; value: unknown }
  | {
      type: "store";
      req: number;
      ok: false;
      error: ErrorInfo & { file?: string; path?: (string | number)[] };
    };

export type FromThread =
  | { type: "store"; req: number; method: "loadManifest"; args: [string] }
  | { type: "store"; req: number; method: "readModel"; args: [string, string | undefined] }
  | { type: "progress"; id: number; done: number; total: number }
  | { type: "done"; id: number; certificate: Certificate | null }
  | { type: "failed"; id: number; error: ErrorInfo; aborted: boolean };
