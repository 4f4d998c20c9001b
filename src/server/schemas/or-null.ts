import { z } from "@hono/zod-openapi";

/**
 * `schema` or null, for a field whose schema is a named component. `.nullable()` would not do:
 * zod-to-openapi reads the component's name through it, so the first nullable use would define
 * the component itself as "object or null" (and a later one gives an `allOf` that rules null out).
 * A union leaves the component as it is and documents the field as `anyOf: [$ref, null]`.
 */
export function orNull<T extends z.ZodType>(schema: T): z.ZodUnion<[T, z.ZodNull]> {
  return z.union([schema, z.null()]);
}
