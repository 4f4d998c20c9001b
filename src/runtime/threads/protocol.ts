import type { DrawBatch } from "../../core/model.js";
import type { NoiseVersion } from "../../core/noise.js";
import type { NoiseMode } from "../certifier.js";
import type { ProviderConfig } from "../providers.js";
import type { ErrorInfo } from "./errors.js";

/** Messages between the runner (main thread) and a certification thread. */

export interface ThreadData {
  providers: ProviderConfig | undefined;
  noise: NoiseMode | undefined;
  threads: number | undefined;
  noiseVersion?: NoiseVersion | undefined;
}

/** Which of a certifier's chains a batch runs on: an option's index, or the estimator. */
export type ChainRef = number | "estimator";

export type ToThread =
  /** Class counts of one batch of draws. */
  | { type: "batch"; id: number; certifier: string; chain: ChainRef; batch: DrawBatch }
  | { type: "load"; id: number; certifier: string }
  /** Release the sessions and exit; sent only once every request is answered. */
  | { type: "close" }
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
  /** `noise`: the generator the batch's draws came from, as the thread's certifier resolved it. */
  | { type: "counts"; id: number; counts: Uint32Array; noise: NoiseVersion }
  | { type: "loaded"; id: number }
  | { type: "failed"; id: number; error: ErrorInfo };
