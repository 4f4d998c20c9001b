import { z } from "@hono/zod-openapi";
import { CertifyParameters } from "../../core/parameters.js";

import { JOB_EVENTS } from "../contract/job-schemas.js";

export { JOB_EVENTS };

export const TensorInputSchema = z
  .strictObject({
    type: z.literal("tensor"),
    shape: z
      .array(z.number().int().min(1).max(1_000_000))
      .min(1)
      .max(8)
      .describe("the tensor's shape, without a batch axis; must equal the certifier's input shape"),
    data: z
      .union([
        z.string().describe("base64 of the values as little-endian float32, row-major"),
        z.array(z.number()).describe("the values, row-major"),
      ])
      .describe("the values: base64 of little-endian float32, or a number array"),
  })
  .openapi("TensorInput", { example: { type: "tensor", shape: [2], data: [0.2, 0.1] } });

export const ImageInputSchema = z
  .strictObject({
    type: z.literal("image"),
    data: z
      .string()
      .describe("base64 of a PNG or JPEG file; scaled to the certifier's input shape and range"),
  })
  .openapi("ImageInput");

export const InputSchema = z
  .discriminatedUnion("type", [TensorInputSchema, ImageInputSchema])
  .describe("the input to certify: a tensor, or an image to decode and scale")
  .openapi("Input");

export const WebhookSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .describe("http(s) URL that receives Standard Webhooks POSTs; private addresses are refused"),
    events: z
      .array(z.enum(JOB_EVENTS))
      .min(1)
      .optional()
      .describe("events to deliver; default: the terminal ones (succeeded, failed, canceled)"),
  })
  .openapi("Webhook");

export const MetadataSchema = z
  .record(z.string().min(1).max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 32, "at most 32 metadata keys")
  .describe("free-form string pairs kept with the job")
  .openapi("Metadata");

export const CertifyRequestSchema = z
  .strictObject({
    certifier: z.string().min(1).max(128).describe("id of the certifier (GET /certifiers)"),
    input: InputSchema,
    parameters: CertifyParameters.optional().openapi("CertifyParameters"),
    webhook: WebhookSchema.optional(),
    metadata: MetadataSchema.optional(),
  })
  .openapi("CertifyRequest", {
    example: {
      certifier: "fmnist-dual-experts",
      input: { type: "tensor", shape: [1, 28, 28], data: "<base64 of 784 little-endian float32>" },
      parameters: { n0: 100, n: 10000, alpha: 0.001 },
    },
  });

export type CertifyRequest = z.infer<typeof CertifyRequestSchema>;
