import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { ProviderError } from "./errors.js";

/** The execution providers dualrs knows how to use. */
export const providerNames = ["cuda", "cpu"] as const;
export type ProviderName = (typeof providerNames)[number];

/** "auto": CUDA where present, then CPU. A list: every provider in it is required, in that order. */
export type ProviderConfig = "auto" | readonly ProviderName[];

export interface ProviderStatus {
  readonly available: boolean;
  /** Why not, when not available. */
  readonly reason?: string;
}

export const cudaInstallHint =
  "install onnxruntime-node's CUDA EP binaries on a machine with CUDA 12 and cuDNN 9: " +
  "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js";

/** Parses "auto" or a comma-separated list such as "cuda,cpu". */
export function parseProviders(text: string): ProviderConfig {
  const trimmed = text.trim();
  if (trimmed === "auto") return "auto";
  const names = trimmed.split(",").map((s) => s.trim().toLowerCase());
  for (const name of names) {
    if (!isProviderName(name)) {
      throw new ProviderError(
        `unknown execution provider "${name}" (expected "auto" or a list of: ${providerNames.join(", ")})`,
        name,
      );
    }
  }
  return names as ProviderName[];
}

function isProviderName(name: string): name is ProviderName {
  return (providerNames as readonly string[]).includes(name);
}

/** The providers to create sessions with; throws ProviderError when a required one is missing. */
export async function resolveProviders(config: ProviderConfig = "auto"): Promise<ProviderName[]> {
  if (config === "auto") return (await providerStatus("cuda")).available ? ["cuda", "cpu"] : ["cpu"];
  if (config.length === 0) throw new ProviderError("the list of execution providers is empty", "");
  const names = [...new Set(config)];
  for (const name of names) {
    const status = await providerStatus(name);
    if (!status.available) {
      throw new ProviderError(
        `execution provider "${name}" is required but not available: ${status.reason}`,
        name,
      );
    }
  }
  return names;
}

// Probing loads native libraries and may log; it is done once per process.
const probes = new Map<ProviderName, Promise<ProviderStatus>>();

/** Whether a provider can be used here, probed once and cached. */
export function providerStatus(name: ProviderName): Promise<ProviderStatus> {
  let probe = probes.get(name);
  if (!probe) {
    probe = name === "cpu" ? Promise.resolve({ available: true }) : probeCuda();
    probes.set(name, probe);
  }
  return probe;
}

async function probeCuda(): Promise<ProviderStatus> {
  const listed = ort.listSupportedBackends().some((b) => b.name === "cuda");
  if (!listed) return { available: false, reason: "this build of onnxruntime-node has no CUDA support" };
  // Without the EP library, creating a session only fails after logging to stderr: check first.
  const lib = cudaLibraryPath();
  if (!lib || !existsSync(lib))
    return { available: false, reason: `CUDA EP binaries are not installed; ${cudaInstallHint}` };
  try {
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: ["cuda"] });
    await session.release();
    return { available: true };
  } catch (e) {
    return {
      available: false,
      reason: `CUDA EP failed to start (${(e as Error).message}); check the CUDA 12 and cuDNN 9 installation`,
    };
  }
}

/** Where onnxruntime-node looks for its CUDA EP library, next to its native binding. */
function cudaLibraryPath(): string | undefined {
  const file =
    process.platform === "linux"
      ? "libonnxruntime_providers_cuda.so"
      : process.platform === "win32"
        ? "onnxruntime_providers_cuda.dll"
        : undefined;
  if (!file) return undefined;
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch, file);
}

/** A 65-byte ONNX model, y = Identity(x) with x float32 [1], to try a provider on. */
function probeModel(): Uint8Array {
  return Buffer.from(
    "CAg6NwoQCgF4EgF5IghJZGVudGl0eRIBcFoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE=",
    "base64",
  );
}
