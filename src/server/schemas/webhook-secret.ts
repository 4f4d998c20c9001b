import { z } from "@hono/zod-openapi";

export const WebhookSecretSchema = z
  .object({
    tenant: z.string().describe("the tenant the calling API key acts for"),
    secret: z
      .string()
      .describe(
        "Standard Webhooks signing secret (whsec_...) of this tenant's deliveries: verify them with it",
      ),
  })
  .openapi("WebhookSecret");
