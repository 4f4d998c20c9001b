import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env.js";
import { registry, scrape } from "../metrics/registry.js";
import { problemResponseSpec } from "../schemas/problem.js";
import { commonErrors, security } from "./errors.js";

const metrics = createRoute({
  method: "get",
  operationId: "metrics",
  path: "/metrics",
  tags: ["operations"],
  summary:
    "Prometheus metrics: queue depth (in all and by tenant), jobs by state, job latency, samples, HTTP requests",
  security,
  responses: {
    200: {
      description: "Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
    ...commonErrors,
    403: problemResponseSpec("METRICS_TENANTS is set and does not name this API key's tenant"),
  },
});

export function metricsRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(metrics, async (c) => {
    const { queue, metricsOf } = c.get("services");
    const text = await scrape(queue, metricsOf(c.get("tenant")));
    return c.text(text, 200, { "Content-Type": registry.contentType });
  });
  return app;
}
