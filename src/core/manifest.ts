import { z } from "zod";

/**
 * A certifier's manifest: the one contract between training (which writes it) and serving (which
 * loads it). Models are ONNX files named by their sha256; a base model is a chain of them.
 */

const sha256File = z
  .string()
  .regex(/^[0-9a-f]{64}\.onnx$/, "a model file is named by its sha256: <64 hex digits>.onnx");

/** Free-form record of where a model came from: training command, data, date, commit, ... */
export const Provenance = z.record(z.string().min(1), z.string());

export const ModelEntry = z.strictObject({
  /** `<sha256>.onnx`, relative to the manifest's folder; verified on load. */
  file: sha256File,
  /** Name of an extra float32 input of shape [N] that carries each draw's sigma (denoisers). */
  sigmaInput: z.string().min(1).optional(),
  description: z.string().optional(),
  provenance: Provenance.optional(),
});

const chain = z
  .array(z.string().min(1))
  .min(1)
  .describe("model names applied in order; the last one outputs logits [N, classes]");

export const ClassifierOption = z.strictObject({
  sigma: z.number().positive().finite(),
  chain,
  name: z.string().min(1).optional(),
});

export const Estimator = z.strictObject({
  /** The global sigma_e the estimator is smoothed with. */
  sigma: z.number().positive().finite(),
  chain,
  /** Estimator class k routes to classifier option `options[k]` (default: class k to option k). */
  options: z.array(z.number().int().nonnegative()).min(2).optional(),
  /** Option used, with radius 0, when the estimator abstains; absent: the certificate abstains. */
  fallback: z.number().int().nonnegative().optional(),
});

/**
 * Per-channel normalization of the models' inputs: the engine feeds (x_noisy - mean[c]) / std[c],
 * inside the graph and after the noise, so noise and radii stay in the input's (pixel) space.
 */
export const Preprocess = z.strictObject({
  mean: z.array(z.number().finite()).min(1),
  std: z.array(z.number().positive().finite()).min(1),
});

export const Defaults = z.strictObject({
  n0: z.number().int().positive().default(100),
  n: z.number().int().positive().default(10_000),
  alpha: z.number().gt(0).lt(1).default(0.001),
  /** Share of alpha spent on the estimator stage (the classifier stage gets the rest). */
  alphaSplit: z.number().gt(0).lt(1).default(0.5),
  batchSize: z.number().int().positive().default(1000),
});

export const Manifest = z
  .strictObject({
    schemaVersion: z.literal(1),
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "lowercase letters, digits, '.', '_' and '-'"),
    title: z.string().optional(),
    description: z.string().optional(),
    input: z.strictObject({
      /** Shape of one input, without the batch axis (for example [1, 28, 28]). */
      shape: z.array(z.number().int().positive()).min(1),
      /** Inclusive range of valid input values (for example [0, 1]). */
      range: z.tuple([z.number().finite(), z.number().finite()]),
      /** Normalization applied after the noise; channels are the first axis of `shape`. */
      preprocess: Preprocess.optional(),
    }),
    labels: z.array(z.string().min(1)).min(2),
    models: z.record(z.string().min(1), ModelEntry),
    options: z.array(ClassifierOption).min(1),
    estimator: Estimator.optional(),
    defaults: Defaults.prefault({}),
    provenance: Provenance.optional(),
  })
  .superRefine((m, ctx) => {
    const known = (names: string[], path: (string | number)[]) => {
      names.forEach((name, i) => {
        if (!(name in m.models))
          ctx.addIssue({ code: "custom", path: [...path, i], message: `unknown model "${name}"` });
      });
    };
    for (const [i, o] of m.options.entries()) known(o.chain, ["options", i, "chain"]);
    if (m.input.range[0] >= m.input.range[1]) {
      ctx.addIssue({
        code: "custom",
        path: ["input", "range"],
        message: "range must be [low, high] with low < high",
      });
    }
    const pre = m.input.preprocess;
    const channels = m.input.shape[0] ?? 0;
    for (const key of ["mean", "std"] as const) {
      if (pre && pre[key].length !== channels) {
        ctx.addIssue({
          code: "custom",
          path: ["input", "preprocess", key],
          message: `${key} needs one value per channel, shape[0] = ${channels}; it has ${pre[key].length}`,
        });
      }
    }
    const e = m.estimator;
    if (!e) return;
    known(e.chain, ["estimator", "chain"]);
    const routes = e.options ?? m.options.map((_, i) => i);
    if (routes.length < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["estimator"],
        message: "an estimator needs at least two options",
      });
    }
    routes.forEach((k, i) => {
      if (k >= m.options.length) {
        ctx.addIssue({
          code: "custom",
          path: ["estimator", "options", i],
          message: `no classifier option ${k}`,
        });
      }
    });
    if (e.fallback !== undefined && e.fallback >= m.options.length) {
      ctx.addIssue({
        code: "custom",
        path: ["estimator", "fallback"],
        message: `no classifier option ${e.fallback}`,
      });
    }
  });

export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;
export type ModelEntry = z.infer<typeof ModelEntry>;
export type ClassifierOption = z.infer<typeof ClassifierOption>;
export type Preprocess = z.infer<typeof Preprocess>;

/** The classifier option each estimator class routes to. */
export function estimatorRoutes(m: Manifest): number[] {
  return m.estimator?.options ?? m.options.map((_, i) => i);
}
