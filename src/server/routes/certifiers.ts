import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env.js";
import { validationHook } from "../middleware/validation.js";
import { CertifierIdParams, CertifierListSchema, CertifierSchema } from "../schemas/certifier.js";
import { describeCertifier } from "../schemas/describe-certifier.js";
import { problemResponseSpec } from "../schemas/problem.js";
import { commonErrors, security } from "./errors.js";

const listCertifiers = createRoute({
  method: "get",
  operationId: "listCertifiers",
  path: "/certifiers",
  tags: ["certifiers"],
  summary: "The certifiers offered, with what each accepts and returns",
  security,
  responses: {
    200: { description: "Every certifier", content: { "application/json": { schema: CertifierListSchema } } },
    ...commonErrors,
  },
});

const getCertifier = createRoute({
  method: "get",
  operationId: "getCertifier",
  path: "/certifiers/{id}",
  tags: ["certifiers"],
  summary: "One certifier",
  security,
  request: { params: CertifierIdParams },
  responses: {
    200: { description: "The certifier", content: { "application/json": { schema: CertifierSchema } } },
    ...commonErrors,
    404: problemResponseSpec("Unknown certifier"),
  },
});

export function certifierRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(listCertifiers, async (c) => {
    const { catalog } = c.get("services");
    const manifests = await Promise.all((await catalog.ids()).map((id) => catalog.get(id)));
    return c.json({ certifiers: manifests.map(describeCertifier) }, 200);
  });

  app.openapi(getCertifier, async (c) => {
    const manifest = await c.get("services").catalog.get(c.req.valid("param").id);
    return c.json(describeCertifier(manifest), 200);
  });

  return app;
}
