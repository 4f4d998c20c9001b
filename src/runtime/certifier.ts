import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";
import type { LoadedCertifier } from "../core/certifier.js";
import { ModelError } from "../core/errors.js";
import { estimatorRoutes, type Manifest } from "../core/manifest.js";
import type { NoisyClassifier } from "../core/model.js";
import { NOISE, NOISE_SQUARES, type NoiseVersion } from "../core/noise.js";
import { IntegrityError, NonFiniteLogitsError } from "./errors.js";
import { buildNoisyClassifier, composeClassifier, GRAPH_INPUTS, GRAPH_OUTPUTS } from "./graph/index.js";
import type { ModelStore } from "./model-store.js";
import { NoiseMaker } from "./noise/maker.js";
import { graphNoiseClassifier, graphNoiseFeeds, hostNoiseClassifier } from "./onnx-classifier.js";
import { type ProviderConfig, type ProviderName, resolveProviders } from "./providers.js";
import { type Session, SessionCache } from "./session.js";
import { readSignature } from "./signature.js";

/** A certifier with live sessions; `close` releases them. */
export interface RuntimeCertifier extends LoadedCertifier {
  /** Where its noise is made. */
  readonly noiseMode: NoiseMode;
  close(): Promise<void>;
}

/** Where the noise is drawn: in the model graph (only x crosses to the device) or on the host. */
export type NoiseMode = "graph" | "host";

export interface LoadOptions {
  /** Default "auto": CUDA where present, CPU otherwise. */
  providers?: ProviderConfig | undefined;
  /**
   * Default: "host" where the CPU provider comes first (WebAssembly noise made on a thread of its own
   * while the model runs, docs/benchmarks.md), "graph" on a GPU provider (only x crosses to the device).
   */
  noise?: NoiseMode | undefined;
  /** Threads per operator on the CPU; default: one per core, less the host noise's thread. */
  threads?: number | undefined;
  /**
   * The noise generator (src/core/noise.ts). Default: squares32 where a GPU provider comes first,
   * since only its graph runs wholly on the device, and NOISE (Philox4x32-10) elsewhere.
   */
  noiseVersion?: NoiseVersion | undefined;
}

/** The noise a certifier draws: the one asked for, or the default for its first provider. */
export function noiseVersionFor(providers: readonly ProviderName[], asked?: NoiseVersion): NoiseVersion {
  return asked ?? (providers[0] === "cpu" ? NOISE : NOISE_SQUARES);
}

/** Where a certifier's noise is made unless asked: on the host beside the CPU provider, else in the graph. */
export function noiseModeFor(providers: readonly ProviderName[]): NoiseMode {
  return providers[0] === "cpu" ? "host" : "graph";
}

/** Whether a noise graph is built from device operators: squares32 where a GPU provider comes first. */
export function deviceNoise(providers: readonly ProviderName[], version: NoiseVersion): boolean {
  return version === NOISE_SQUARES && providers[0] !== "cpu";
}

/** The noise generator of a certifier's graphs: its version, and whether from device operators. */
interface NoiseGenerator {
  readonly version: NoiseVersion;
  readonly device: boolean;
}

/** How a certifier's classifiers draw their noise: where, which, and the host's noise thread. */
interface NoiseSetup extends NoiseGenerator {
  readonly mode: NoiseMode;
  readonly maker: NoiseMaker | undefined;
}

/** One use of a chain in the manifest, for checks and messages. */
interface ChainUse {
  readonly chain: readonly string[];
  readonly classes: number;
  readonly field: string;
  readonly sigma: number;
}

/** A chain's models, read and verified. */
interface ChainModels {
  readonly bytes: Uint8Array[];
  readonly sigmaInputs: (string | undefined)[];
}

/**
 * Loads certifier `ref` (a manifest id or path) from a store: verifies every model file it uses,
 * composes each distinct chain into one session (options sharing a chain share it), and checks
 * each chain against the manifest, from the models' declared shapes and with one trial run.
 */
export async function loadCertifier(
  store: ModelStore,
  ref: string,
  options: LoadOptions = {},
): Promise<RuntimeCertifier> {
  const threads = options.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0)) {
    throw new RangeError(`threads must be a non-negative integer, not ${threads}`);
  }
  const manifest = await store.loadManifest(ref);
  const providers = await resolveProviders(options.providers ?? "auto");
  const noise = options.noise ?? noiseModeFor(providers);
  // Host noise has a thread of its own: by default the model gets the other cores, not all of them.
  const sessions = new SessionCache({
    providers,
    threads: threads ?? (noise === "host" ? Math.max(1, availableParallelism() - 1) : undefined),
  });
  const maker = noise === "host" ? new NoiseMaker() : undefined;
  const close = async () => {
    await maker?.close();
    await sessions.close();
  };
  const version = noiseVersionFor(providers, options.noiseVersion);
  // squares32's graph from device operators wherever a GPU provider runs it.
  const generator: NoiseGenerator = { version, device: deviceNoise(providers, version) };
  const digests: Record<string, string> = {};
  const files = new Map<string, Promise<Uint8Array>>();
  const readModel = (name: string): Promise<Uint8Array> => {
    let bytes = files.get(name);
    if (!bytes) {
      const file = manifest.models[name]?.file ?? "";
      bytes = store.readModel(file, ref).then((b) => {
        digests[name] = file.slice(0, -".onnx".length);
        return b;
      });
      files.set(name, bytes);
    }
    return bytes;
  };
  const readChain = async (chain: readonly string[]): Promise<ChainModels> => ({
    bytes: await Promise.all(chain.map(readModel)),
    sigmaInputs: chain.map((name) => manifest.models[name]?.sigmaInput),
  });

  try {
    const byChain = new Map<string, Promise<NoisyClassifier>>();
    const classifierOf = (use: ChainUse): Promise<NoisyClassifier> => {
      const key = use.chain.join("\u0000");
      let classifier = byChain.get(key);
      if (!classifier) {
        classifier = buildChain(manifest, use, { mode: noise, maker, ...generator }, sessions, readChain);
        byChain.set(key, classifier);
      }
      return classifier.then((c) => requireClasses(manifest, use, c));
    };
    const classifiers = await Promise.all(chainUses(manifest).map(classifierOf));
    const estimator = manifest.estimator ? classifiers.at(-1) : undefined;
    return {
      manifest,
      options: classifiers.slice(0, manifest.options.length),
      ...(estimator ? { estimator } : {}),
      digests,
      noise: version,
      noiseMode: noise,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Every use of a chain: the options in order, then the estimator. */
function chainUses(manifest: Manifest): ChainUse[] {
  const uses: ChainUse[] = manifest.options.map((o, i) => ({
    chain: o.chain,
    classes: manifest.labels.length,
    field: `options[${i}].chain`,
    sigma: o.sigma,
  }));
  const e = manifest.estimator;
  if (e) {
    uses.push({
      chain: e.chain,
      classes: estimatorRoutes(manifest).length,
      field: "estimator.chain",
      sigma: e.sigma,
    });
  }
  return uses;
}

/** The session of a chain (composed with noise or without) and its checks; errors name the chain. */
async function buildChain(
  manifest: Manifest,
  use: ChainUse,
  setup: NoiseSetup,
  sessions: SessionCache,
  readChain: (chain: readonly string[]) => Promise<ChainModels>,
): Promise<NoisyClassifier> {
  const label = `chain [${use.chain.join(", ")}]`;
  const shape = manifest.input.shape;
  const { mode: noise, version, device, maker } = setup;
  const key = `${noise}:${use.chain.join("\u0000")}`;
  try {
    const session = await sessions.get(key, async () => {
      const models = await readChain(use.chain);
      checkSignatures(manifest, use, models);
      const preprocess = manifest.input.preprocess;
      return noise === "graph"
        ? buildNoisyClassifier(models.bytes, models.sigmaInputs, shape, {
            preprocess,
            noise: version,
            device,
          })
        : composeClassifier(models.bytes, models.sigmaInputs, shape, { logits: true, preprocess });
    });
    await checkLogits(manifest, use, session, noise);
    // Errors at run time name the certifier too: they reach callers far from this manifest.
    const name = `certifier "${manifest.id}", ${label}`;
    const classifier =
      noise === "graph"
        ? graphNoiseClassifier(session, use.classes, name, version)
        : hostNoiseClassifier(session, shape, use.classes, name, version, maker);
    await trialRun(manifest, use, classifier);
    return classifier;
  } catch (e) {
    // A corrupt file is the file's fault, not the chain's; it names itself.
    if (e instanceof IntegrityError) throw e;
    // The trial run's draws: the error keeps its type, now naming the manifest field.
    if (e instanceof NonFiniteLogitsError) {
      const where = `certifier "${manifest.id}", ${use.field} [${use.chain.join(", ")}]`;
      throw new NonFiniteLogitsError(where, e.sigma, e.nonFinite, e.draws);
    }
    if (e instanceof ModelError && e.message.startsWith(`certifier "${manifest.id}", ${use.field}`)) throw e;
    throw chainError(manifest, use, (e as Error).message);
  }
}

/** The first model's declared input against input.shape, the last one's output against the classes. */
function checkSignatures(manifest: Manifest, use: ChainUse, models: ChainModels): void {
  const [firstBytes, lastBytes] = [models.bytes[0], models.bytes.at(-1)];
  if (!firstBytes || !lastBytes) return;
  const file = (name: string | undefined) => `model "${name}" (${manifest.models[name ?? ""]?.file})`;
  const first = readSignature(firstBytes, file(use.chain[0]));
  const sigmaInput = models.sigmaInputs[0];
  const input = first.inputs.find((v) => v.name !== sigmaInput);
  const expected = manifest.input.shape;
  if (input?.dims) {
    const inner = input.dims.slice(1);
    const fits =
      input.dims.length === expected.length + 1 &&
      inner.every((d, i) => typeof d !== "number" || d === expected[i]);
    if (!fits) {
      throw chainError(
        manifest,
        use,
        `model "${use.chain[0]}" takes input [${input.dims.join(", ")}]; input.shape [${expected.join(", ")}] needs [N, ${expected.join(", ")}]`,
      );
    }
  }
  const output = readSignature(lastBytes, file(use.chain.at(-1))).outputs[0];
  if (output?.dims) {
    const classes = output.dims.at(-1);
    if (output.dims.length !== 2 || (typeof classes === "number" && classes !== use.classes)) {
      throw chainError(
        manifest,
        use,
        `model "${use.chain.at(-1)}" outputs [${output.dims.join(", ")}]; expected logits [N, ${use.classes}] (${classesNeeded(manifest, use)})`,
      );
    }
  }
}

/** Logits of two mid-range inputs must be [2, classes]: catches class counts the metadata leaves symbolic. */
async function checkLogits(
  manifest: Manifest,
  use: ChainUse,
  session: Session,
  noise: NoiseMode,
): Promise<void> {
  const count = 2;
  const shape = manifest.input.shape;
  const feeds: Record<string, ort.Tensor> = {};
  if (noise === "graph") {
    Object.assign(
      feeds,
      graphNoiseFeeds({ x: midRange(manifest, 1), sigma: use.sigma, seed: 0, stream: 0, first: 0, count }),
    );
  } else {
    feeds[GRAPH_INPUTS.batch] = new ort.Tensor("float32", midRange(manifest, count), [count, ...shape]);
    if (session.inputNames.includes(GRAPH_INPUTS.sigma)) {
      feeds[GRAPH_INPUTS.sigma] = new ort.Tensor("float32", new Float32Array(count).fill(use.sigma), [count]);
    }
  }
  const logits = (await session.run(feeds, [GRAPH_OUTPUTS.logits]))[GRAPH_OUTPUTS.logits];
  const dims = logits?.dims ?? [];
  if (dims.length !== 2 || dims[0] !== count || dims[1] !== use.classes) {
    throw chainError(
      manifest,
      use,
      `the chain outputs logits [${dims.join(", ")}] for ${count} inputs; expected [${count}, ${use.classes}] (${classesNeeded(manifest, use)})`,
    );
  }
}

/**
 * One small batch through the noisy classifier, so that a broken chain fails at load, not
 * mid-request: a chain that fails to run, or gives NaN or infinite logits (NonFiniteLogitsError).
 */
async function trialRun(manifest: Manifest, use: ChainUse, classifier: NoisyClassifier): Promise<void> {
  const x = midRange(manifest, 1);
  await classifier.countBatch({ x, sigma: use.sigma, seed: 0, stream: 0, first: 0, count: 2 });
}

function midRange(manifest: Manifest, count: number): Float32Array {
  const [low, high] = manifest.input.range;
  const size = manifest.input.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(count * size).fill((low + high) / 2);
}

/** A chain shared by uses that need different class counts fits at most one of them. */
function requireClasses(manifest: Manifest, use: ChainUse, c: NoisyClassifier): NoisyClassifier {
  if (c.classes !== use.classes) {
    throw chainError(manifest, use, `the chain has ${c.classes} classes; ${classesNeeded(manifest, use)}`);
  }
  return c;
}

function classesNeeded(manifest: Manifest, use: ChainUse): string {
  return use.field.startsWith("estimator")
    ? `an estimator needs one class per route, ${use.classes}`
    : `an option needs one class per label, ${manifest.labels.length}`;
}

function chainError(manifest: Manifest, use: ChainUse, message: string): ModelError {
  return new ModelError(`certifier "${manifest.id}", ${use.field} [${use.chain.join(", ")}]: ${message}`);
}
