import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env.js";
import { problemResponseSpec } from "../schemas/problem.js";

const Health = z.object({ status: z.literal("ok") }).openapi("Health");
const Readiness = z
  .object({
    status: z.enum(["ready", "not ready"]),
    queue: z.object({ ready: z.boolean(), detail: z.string() }),
    models: z.object({ ready: z.boolean(), detail: z.string() }),
  })
  .openapi("Readiness");

const healthz = createRoute({
  method: "get",
  operationId: "healthz",
  path: "/healthz",
  tags: ["operations"],
  security: [],
  summary: "Liveness: the process answers",
  responses: { 200: { description: "Alive", content: { "application/json": { schema: Health } } } },
});

const readyz = createRoute({
  method: "get",
  operationId: "readyz",
  path: "/readyz",
  tags: ["operations"],
  security: [],
  summary: "Readiness: certifiers listed from the model store, and the queue able to take jobs",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: Readiness } } },
    503: { description: "Not ready", content: { "application/json": { schema: Readiness } } },
    500: problemResponseSpec("The server failed"),
  },
});

export function healthRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));

  app.openapi(readyz, async (c) => {
    const { queue, catalog } = c.get("services");
    const [q, models] = await Promise.all([
      queue.readiness().catch((e: Error) => ({ ready: false, detail: e.message })),
      catalog.ids().then(
        (ids) =>
          ids.length > 0
            ? { ready: true, detail: `${ids.length} certifier(s)` }
            : { ready: false, detail: "the model store holds no certifier" },
        (e: Error) => ({ ready: false, detail: `model store: ${e.message}` }),
      ),
    ]);
    const ready = q.ready && models.ready;
    const body = { status: ready ? ("ready" as const) : ("not ready" as const), queue: q, models };
    return ready ? c.json(body, 200) : c.json(body, 503);
  });

  return app;
}
