import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env.js";
import { problem, problemTypes } from "../middleware/problem.js";
import { validationHook } from "../middleware/validation.js";
import { problemResponseSpec } from "../schemas/problem.js";
import { WebhookSecretSchema } from "../schemas/webhook-secret.js";
import { tenantSecret } from "../webhooks/signature.js";
import { commonErrors, security } from "./errors.js";

const getWebhookSecret = createRoute({
  method: "get",
  operationId: "getWebhookSecret",
  path: "/webhooks/secret",
  tags: ["webhooks"],
  summary: "The secret that signs the caller's webhook deliveries",
  description:
    "Each tenant's deliveries are signed with a secret of its own, derived from the server's WEBHOOK_SECRET, " +
    "so that no tenant can sign what another tenant's receiver accepts.",
  security,
  responses: {
    200: {
      description: "The caller's tenant and its signing secret",
      content: { "application/json": { schema: WebhookSecretSchema } },
    },
    ...commonErrors,
    404: problemResponseSpec("Webhooks are not configured on this server (no WEBHOOK_SECRET)"),
  },
});

export function webhookSecretRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(getWebhookSecret, (c) => {
    const { webhookSecret } = c.get("services");
    if (!webhookSecret) {
      throw problem(
        404,
        problemTypes.notFound,
        "Not Found",
        "webhooks are not configured: no WEBHOOK_SECRET",
      );
    }
    const tenant = c.get("tenant");
    return c.json({ tenant, secret: tenantSecret(webhookSecret, tenant) }, 200);
  });

  return app;
}
