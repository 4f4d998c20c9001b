import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { ProviderError } from "./errors.js";

/** The execution providers dualrs knows how to use. */
export const providerNames = ["cuda", "webgpu", "cpu"] as const;
export type ProviderName = (typeof providerNames)[number];

/**
 * "auto": CUDA where present, then WebGPU on a GPU (never on a software Vulkan adapter, which is
 * slower than the CPU provider), then CPU. A list: every provider in it is required, in that order.
 */
export type ProviderConfig = "auto" | readonly ProviderName[];

export interface ProviderStatus {
  readonly available: boolean;
  /** Why not, when not available. */
  readonly reason?: string;
}

export const webgpuInstallHint =
  "WebGPU runs through Vulkan: install the Vulkan loader (Debian/Ubuntu: libvulkan1) and a Vulkan " +
  "driver (on NVIDIA, the driver's Vulkan ICD, with the container's graphics capability; without a " +
  "GPU, Mesa's lavapipe from mesa-vulkan-drivers 23 or newer)";

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
  if (config === "auto") {
    if ((await providerStatus("cuda")).available) return ["cuda", "cpu"];
    if (hasGpuDevice() && (await providerStatus("webgpu")).available) return ["webgpu", "cpu"];
    return ["cpu"];
  }
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
    probe =
      name === "cpu" ? Promise.resolve({ available: true }) : name === "cuda" ? probeCuda() : probeWebgpu();
    probes.set(name, probe);
  }
  return probe;
}

async function probeCuda(): Promise<ProviderStatus> {
  if (!bundled("cuda"))
    return { available: false, reason: "this build of onnxruntime-node has no CUDA support" };
  // Without the EP library, creating a session only fails after logging to stderr: check first.
  const lib = cudaLibraryPath();
  if (!lib || !existsSync(lib))
    return { available: false, reason: `CUDA EP binaries are not installed; ${cudaInstallHint}` };
  const error = await startError("cuda");
  if (!error) return { available: true };
  return {
    available: false,
    reason: `CUDA EP failed to start (${error.message}); check the CUDA 12 and cuDNN 9 installation`,
  };
}

async function probeWebgpu(): Promise<ProviderStatus> {
  if (!bundled("webgpu"))
    return { available: false, reason: "this build of onnxruntime-node has no WebGPU support" };
  if (process.platform === "linux" && !hasVulkanLoader())
    return { available: false, reason: `the Vulkan loader libvulkan.so.1 is missing; ${webgpuInstallHint}` };
  const error = await startError("webgpu");
  if (!error) return { available: true };
  const detail = /adapter/i.test(error.message)
    ? "no WebGPU adapter (no Vulkan driver found)"
    : error.message;
  return { available: false, reason: `WebGPU failed to start: ${detail}; ${webgpuInstallHint}` };
}

/** Whether this build of onnxruntime-node lists the provider. */
function bundled(name: ProviderName): boolean {
  return ort.listSupportedBackends().some((b) => b.name === name);
}

/** Why a session of the probe model cannot be created on the provider alone; undefined if it can. */
async function startError(name: ProviderName): Promise<Error | undefined> {
  try {
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [name] });
    await session.release();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

const libraryDirs = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
];

/** Whether libvulkan.so.1 is where the dynamic loader looks (or on LD_LIBRARY_PATH). */
function hasVulkanLoader(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean), ...libraryDirs];
  return dirs.some((d) => existsSync(join(d, "libvulkan.so.1")));
}

/**
 * Whether this machine has a GPU that Vulkan can drive: an NVIDIA device node, or a DRM render node
 * (AMD, Intel). Without one, the only WebGPU adapter is a software one (lavapipe, SwiftShader).
 */
export function hasGpuDevice(): boolean {
  try {
    return (
      readdirSync("/dev").some((f) => /^nvidia\d+$/.test(f)) ||
      readdirSync("/dev/dri").some((f) => f.startsWith("renderD"))
    );
  } catch {
    return false;
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
