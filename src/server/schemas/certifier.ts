import { z } from "@hono/zod-openapi";

export const CertifierSchema = z
  .object({
    id: z.string(),
    title: z.string().nullable(),
    description: z.string().nullable(),
    input: z.object({
      shape: z.array(z.number().int()).describe("shape of one input, without a batch axis"),
      range: z.tuple([z.number(), z.number()]).describe("inclusive range of valid values"),
      accepts: z
        .array(z.enum(["tensor", "image"]))
        .describe(
          "input types: tensors always; images when the shape is [H, W], [C, H, W] or [H, W, C] with C 1 or 3",
        ),
      preprocess: z
        .object({ mean: z.array(z.number()), std: z.array(z.number()) })
        .nullable()
        .describe(
          "per-channel normalization (x_noisy - mean[c]) / std[c] that the models see, applied after the noise: inputs, noise and radii stay in the range above",
        ),
    }),
    labels: z.array(z.string()).describe("class labels, by index"),
    modes: z.array(z.enum(["dual", "global"])).describe("certification modes offered"),
    defaultMode: z.enum(["dual", "global"]),
    options: z
      .array(z.object({ index: z.number().int(), sigma: z.number(), name: z.string().nullable() }))
      .describe("classifier options: global mode picks one by sigma, dual mode routes to one"),
    estimator: z
      .object({ sigma: z.number(), routes: z.array(z.number().int()), fallback: z.number().int().nullable() })
      .nullable()
      .describe("the variance estimator of dual mode"),
    defaults: z.object({
      n0: z.number().int(),
      n: z.number().int(),
      alpha: z.number(),
      alphaSplit: z.number(),
      batchSize: z.number().int(),
    }),
    models: z.record(z.string(), z.string()).describe("sha256 of each model file"),
    provenance: z
      .record(z.string(), z.string())
      .nullable()
      .describe("where the certifier came from (training command, data, date, ...), as its manifest says"),
    modelProvenance: z
      .record(z.string(), z.record(z.string(), z.string()))
      .describe("where each model that records it came from, by model name"),
  })
  .openapi("Certifier");

export const CertifierListSchema = z
  .object({ certifiers: z.array(CertifierSchema) })
  .openapi("CertifierList");

export const CertifierIdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "fmnist-dual-experts" }),
});
