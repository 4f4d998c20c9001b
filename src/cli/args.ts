import { parseArgs } from "node:util";
import { ProviderError } from "../runtime/errors.js";
import { type ProviderConfig, parseProviders } from "../runtime/providers.js";
import { UsageError } from "./errors.js";

export interface CertifyArgs {
  manifest: string;
  input: string;
  providers: ProviderConfig;
  noise: "graph" | "host";
  threads?: number | undefined;
  /** Passed to certifyInput as is: the core validates and fills in the manifest's defaults. */
  request: {
    mode?: "dual" | "global" | undefined;
    sigma?: number | undefined;
    n0?: number | undefined;
    n?: number | undefined;
    alpha?: number | undefined;
    alphaSplit?: number | undefined;
    batchSize?: number | undefined;
    seed?: number | undefined;
  };
}

export const certifyUsage = `Usage: dualrs certify --manifest PATH --input FILE [options]

Certifies one input and prints the certificate as JSON on stdout.

  --manifest PATH        certifier manifest (.json); its models are looked up next to it
  --input FILE           .json (array, or {"shape": [...], "data": [...]}), .npy (float32/64), .f32/.bin (raw float32 LE)
  --mode dual|global     default: dual when the certifier has an estimator
  --sigma S              global mode: which classifier option's sigma
  --n N, --n0 N          estimation and selection draws per stage
  --alpha A              probability that the certificate is wrong
  --alpha-split F        dual mode: share of alpha spent on the estimator
  --batch-size B         draws per model call (never changes the result)
  --seed K               noise seed (random when absent; recorded in the certificate)
  --noise graph|host     where the noise is drawn (default host)
  --providers P          auto (default), cpu, cuda or cuda,cpu
  --threads T            CPU threads per operator (default: one per core)
`;

const numeric = ["sigma", "n", "n0", "alpha", "alpha-split", "batch-size", "seed", "threads"] as const;

export function parseCertifyArgs(argv: string[]): CertifyArgs {
  const { values } = parseStrict(argv);
  if (!values.manifest) throw new UsageError("--manifest PATH is required");
  if (!values.input) throw new UsageError("--input FILE is required");
  const num: Partial<Record<(typeof numeric)[number], number>> = {};
  for (const name of numeric) {
    const text = values[name];
    if (text === undefined) continue;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value))
      throw new UsageError(`--${name}: "${text}" is not a number`);
    num[name] = value;
  }
  if (num.threads !== undefined && !(Number.isInteger(num.threads) && num.threads >= 0)) {
    throw new UsageError(`--threads: "${values.threads}" is not a non-negative integer`);
  }
  return {
    manifest: values.manifest,
    input: values.input,
    providers: providersOf(values.providers ?? "auto"),
    noise: oneOf("noise", values.noise ?? "host", ["graph", "host"] as const),
    threads: num.threads,
    request: {
      mode: values.mode === undefined ? undefined : oneOf("mode", values.mode, ["dual", "global"] as const),
      sigma: num.sigma,
      n0: num.n0,
      n: num.n,
      alpha: num.alpha,
      alphaSplit: num["alpha-split"],
      batchSize: num["batch-size"],
      seed: num.seed,
    },
  };
}

function parseStrict(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        manifest: { type: "string" },
        input: { type: "string" },
        mode: { type: "string" },
        noise: { type: "string" },
        providers: { type: "string" },
        sigma: { type: "string" },
        n: { type: "string" },
        n0: { type: "string" },
        alpha: { type: "string" },
        "alpha-split": { type: "string" },
        "batch-size": { type: "string" },
        seed: { type: "string" },
        threads: { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name}: "${value}" is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function providersOf(text: string): ProviderConfig {
  try {
    return parseProviders(text);
  } catch (e) {
    if (e instanceof ProviderError) throw new UsageError(`--providers: ${e.message}`);
    throw e;
  }
}
