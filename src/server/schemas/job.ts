import { z } from "@hono/zod-openapi";
import { CertifyParameters } from "../../core/parameters.js";
import { decodeCursor } from "../contract/cursor.js";
import { isJobId } from "../contract/ids.js";
import { DeliverySchema, JobErrorSchema, JobEventSchema, JobStatusSchema } from "../contract/job-schemas.js";
import { CertificateSchema } from "./certificate.js";
import { MetadataSchema } from "./certify-request.js";
import { orNull } from "./or-null.js";

export { DeliverySchema, JOB_STATUSES, JobErrorSchema, JobStatusSchema } from "../contract/job-schemas.js";

export const JobSchema = z
  .object({
    id: z.string(),
    status: JobStatusSchema,
    certifier: z.string(),
    progress: z
      .object({ done: z.number().int(), total: z.number().int() })
      .describe("noise samples evaluated, and in all"),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    input: z
      .object({
        shape: z.array(z.number().int()),
        sha256: z.string().describe("sha256 of the decoded input as little-endian float32"),
      })
      .describe("the decoded input's shape and digest"),
    parameters: CertifyParameters.extend({ seed: z.number().int() }).describe(
      "the parameters as sent, with the seed fixed at submission",
    ),
    webhook: z.object({ url: z.string(), events: z.array(JobEventSchema) }).nullable(),
    metadata: orNull(MetadataSchema),
    cancelRequested: z.boolean(),
    certificate: orNull(CertificateSchema).describe("the certificate, once the job succeeded"),
    error: orNull(JobErrorSchema),
    deliveries: z.array(DeliverySchema),
  })
  .openapi("Job");

export const JobPageSchema = z
  .object({
    jobs: z.array(JobSchema),
    nextCursor: z.string().nullable().describe("pass as `cursor` for the next page; null on the last"),
  })
  .openapi("JobPage");

export const JobIdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(128)
    // An id this service cannot have issued names no job: a 404 like any unknown id (validation.ts).
    .refine(isJobId, { message: "not a job id (a UUIDv7)", params: { notFound: true } })
    .openapi({
      param: { name: "id", in: "path" },
      description: "the job's id, a UUIDv7 (RFC 9562)",
      example: "019ae6f4-8c3a-7b21-9f0e-5d2c4a1b3e7f",
    }),
});

export const ListQuerySchema = z.object({
  cursor: z
    .string()
    .max(512)
    // a cursor is opaque: one this service did not return would silently restart the listing
    .refine((c) => decodeCursor(c) !== null, "not a cursor this service returned; pass a page's nextCursor")
    .optional()
    .openapi({ param: { name: "cursor", in: "query" } }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { name: "limit", in: "query" }, example: 20 }),
  status: JobStatusSchema.optional().openapi({ param: { name: "status", in: "query" } }),
});
