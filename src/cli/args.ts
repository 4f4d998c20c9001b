import { parseArgs } from "node:util";
import { NOISE_VERSIONS, type NoiseVersion } from "../core/noise.js";
import type { CertifyParameters } from "../core/parameters.js";
import { ProviderError } from "../runtime/errors.js";
import { type ProviderConfig, parseProviders } from "../runtime/providers.js";
import { UsageError } from "./errors.js";

/** How a command runs its certifications: where the models run, and the request for the core. */
export interface Certification {
  providers: ProviderConfig;
  /** Where the noise is made; absent: the default for the providers (runtime's noiseModeFor). */
  noise?: "graph" | "host" | undefined;
  /** The noise generator; absent: the default for the providers (runtime's noiseVersionFor). */
  noiseVersion?: NoiseVersion | undefined;
  threads?: number | undefined;
  /** Certification threads; 1: certify on the command's own thread. */
  workers: number;
  /** Passed to the core as is: it validates and fills in the manifest's defaults. */
  request: CertifyParameters;
}

export interface CertifyArgs extends Certification {
  manifest: string;
  input: string;
}

/** Flags that every certifying command takes. */
export const certificationUsage = `  --mode dual|global     default: dual when the certifier has an estimator
  --sigma S              global mode: which classifier option's sigma
  --n N, --n0 N          estimation and selection draws per stage (default: the manifest's)
  --alpha A              probability that a certificate is wrong (default: the manifest's)
  --alpha-split F        dual mode: share of alpha spent on the estimator
  --batch-size B         draws per model call (never changes the result)
  --sampling S           fixed (default: n draws per stage) or sequential (looks on a fixed
                         schedule that stop once more draws cannot change the certificate)
  --target-radius EPS    decide whether the input is certified at EPS with as few draws as the
                         data allow (sequential unless --sampling fixed)
  --routing R            dual mode: single (default: min(R_sigma, R_c)) or set (also certify the
                         other options the estimator could route to past R_sigma; docs/routing.md)
  --noise graph|host     where the noise is made (default: host on the CPU, graph on a GPU)
  --generator G          noise generator: philox4x32-10 or squares32 (default: squares32 on a
                         GPU provider, philox4x32-10 on the CPU; a certificate names its own)
  --providers P          auto (default), cpu, webgpu, cuda, or a list such as cuda,cpu
  --threads T            CPU threads per operator (default: the cores divided among --workers)
  --workers W            certification threads, each with its own sessions, over which each
                         certificate's batches spread (default 1: certify on this thread)
`;

export const certifyUsage = `Usage: dualrs certify --manifest PATH --input FILE [options]

Certifies one input and prints the certificate as JSON on stdout.

  --manifest PATH        certifier manifest (.json); its models are looked up next to it
  --input FILE           .json (array, or {"shape": [...], "data": [...]}), .npy (float32/64), .f32/.bin (raw float32 LE),
                         or a .png/.jpg image, scaled to the certifier's input as the service does
  --seed K               noise seed (random when absent; recorded in the certificate)
${certificationUsage}`;

const certificationStrings = [
  "manifest",
  "mode",
  "noise",
  "generator",
  "providers",
  "sampling",
  "routing",
] as const;
const certificationNumbers = [
  "sigma",
  "n",
  "n0",
  "alpha",
  "alpha-split",
  "batch-size",
  "seed",
  "target-radius",
  "threads",
  "workers",
] as const;

export interface Flags<S extends string, N extends string, B extends string = never> {
  strings: Partial<Record<S | (typeof certificationStrings)[number], string>>;
  numbers: Partial<Record<N | (typeof certificationNumbers)[number], number>>;
  /** Switches: present or not. */
  switches: Record<B, boolean>;
}

/**
 * Parses `--name value` flags strictly: the certification flags plus a command's own `strings` and
 * `numbers`, and its `switches` (`--name` alone). Every number must be finite; --manifest is required.
 */
export function parseFlags<S extends string, N extends string, B extends string = never>(
  argv: string[],
  strings: readonly S[],
  numbers: readonly N[],
  switches: readonly B[] = [],
): Flags<S, N, B> {
  const names = [...certificationStrings, ...strings, ...certificationNumbers, ...numbers];
  let values: Record<string, string | undefined>;
  let on: Record<string, string | boolean | undefined>;
  try {
    const options = {
      ...Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
      ...Object.fromEntries(switches.map((name) => [name, { type: "boolean" as const }])),
    };
    on = parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
    values = Object.fromEntries(Object.entries(on).filter(([, v]) => typeof v === "string")) as Record<
      string,
      string
    >;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!values.manifest) throw new UsageError("--manifest PATH is required");
  const parsed: Record<string, number> = {};
  for (const name of [...certificationNumbers, ...numbers]) {
    const text = values[name];
    if (text === undefined) continue;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value))
      throw new UsageError(`--${name}: "${text}" is not a number`);
    parsed[name] = value;
  }
  const flags = Object.fromEntries(switches.map((name) => [name, on[name] === true]));
  return { strings: values, numbers: parsed, switches: flags } as Flags<S, N, B>;
}

/** An integer flag at least `min`, or undefined when absent. */
export function wholeFlag(flags: Flags<string, string>, name: string, min: number): number | undefined {
  const v = flags.numbers[name];
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
    throw new UsageError(`--${name}: "${flags.strings[name]}" is not an integer >= ${min}`);
  }
  return v;
}

/** The certification flags of a parsed command line. */
export function certificationOf(flags: Flags<string, string>): Certification {
  const { strings: s, numbers: n } = flags;
  return {
    providers: providersOf(s.providers ?? "auto"),
    noise: s.noise === undefined ? undefined : oneOf("noise", s.noise, ["graph", "host"] as const),
    noiseVersion: s.generator === undefined ? undefined : generatorOf(s.generator),
    threads: wholeFlag(flags, "threads", 0),
    workers: wholeFlag(flags, "workers", 1) ?? 1,
    request: {
      mode: s.mode === undefined ? undefined : oneOf("mode", s.mode, ["dual", "global"] as const),
      sigma: n.sigma,
      n0: n.n0,
      n: n.n,
      alpha: n.alpha,
      alphaSplit: n["alpha-split"],
      batchSize: n["batch-size"],
      seed: n.seed,
      sampling:
        s.sampling === undefined
          ? undefined
          : oneOf("sampling", s.sampling, ["fixed", "sequential"] as const),
      targetRadius: n["target-radius"],
      routing: s.routing === undefined ? undefined : oneOf("routing", s.routing, ["single", "set"] as const),
    },
  };
}

export function parseCertifyArgs(argv: string[]): CertifyArgs {
  const flags = parseFlags(argv, ["input"], []);
  const { manifest, input } = flags.strings;
  if (!input) throw new UsageError("--input FILE is required");
  return { manifest: manifest ?? "", input, ...certificationOf(flags) };
}

export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name}: "${value}" is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function providersOf(text: string): ProviderConfig {
  try {
    return parseProviders(text);
  } catch (e) {
    if (e instanceof ProviderError) throw new UsageError(`--providers: ${e.message}`);
    throw e;
  }
}

/** "philox4x32-10" or "squares32" (or the certificate's full name, "squares32/box-muller"). */
function generatorOf(text: string): NoiseVersion {
  const version = NOISE_VERSIONS.find((v) => v === text || v.split("/")[0] === text);
  if (!version) {
    const names = NOISE_VERSIONS.map((v) => v.split("/")[0]).join(" or ");
    throw new UsageError(`--generator: "${text}" is not ${names}`);
  }
  return version;
}
