import { OpenAPIHono } from "@hono/zod-openapi";
import type { OpenAPIObject } from "openapi3-ts/oas31";
import type { AppEnv } from "./env.js";
import { certifierRoutes } from "./routes/certifiers.js";
import { certifyRoutes } from "./routes/certify.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { webhookSecretRoutes } from "./routes/webhook-secret.js";

/** Every documented route, without middleware or services: what `createApp` mounts and the document describes. */
export function createApi(): OpenAPIHono<AppEnv> {
  const api = new OpenAPIHono<AppEnv>();
  api.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "An API key, required whenever the server listens beyond loopback. A key acts for a tenant: it sees, " +
      "lists and cancels that tenant's jobs only.",
  });
  api.route("/", certifyRoutes());
  api.route("/", certifierRoutes());
  api.route("/", healthRoutes());
  api.route("/", metricsRoutes());
  api.route("/", webhookSecretRoutes());
  return api;
}

/** The OpenAPI 3.1 document, generated from the routes' zod schemas (`npm run openapi` writes it). */
export function openApiDocument(api: OpenAPIHono<AppEnv> = createApi()): OpenAPIObject {
  return api.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "dualrs",
      version: "0.1.0",
      description:
        "Certified robustness as a service: dual randomized smoothing (Sun, Mao, Vechev, ICLR 2026) over " +
        "randomized smoothing (Cohen et al. 2019). Request a certificate with POST /certify, then poll " +
        "GET /certify/{id}. Errors are application/problem+json (RFC 9457).",
      license: { name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
    },
    servers: [{ url: "http://127.0.0.1:8080", description: "dualrs serve on its defaults" }],
    tags: [
      { name: "certify", description: "Certification jobs" },
      { name: "certifiers", description: "What each certifier accepts and returns" },
      { name: "webhooks", description: "Verifying the deliveries of a job's webhook" },
      { name: "operations", description: "Health, readiness and metrics" },
    ],
  }) as OpenAPIObject;
}
