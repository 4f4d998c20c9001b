import { z } from "@hono/zod-openapi";

export const ProblemSchema = z
  .object({
    type: z.string().describe("URI reference naming the problem type"),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional().describe("the request path"),
    field: z.string().optional().describe("the first field at fault, for example parameters.n"),
    errors: z
      .array(z.object({ pointer: z.string(), field: z.string(), detail: z.string() }))
      .optional()
      .describe("every field at fault"),
    expectedShape: z.array(z.number().int()).optional().describe("the certifier's input shape"),
    requestId: z.string().optional(),
  })
  .openapi("Problem");

/** An OpenAPI response entry for an error status, in problem+json (the answer itself is middleware/problem.ts). */
export function problemResponseSpec(description: string) {
  return { description, content: { "application/problem+json": { schema: ProblemSchema } } };
}
