import { estimatorRoutes, type Manifest } from "../../core/manifest.js";

/** Whether a certifier's input shape reads as an image: [H, W], [C, H, W] or [H, W, C] with C 1 or 3. */
function takesImages(shape: readonly number[]): boolean {
  const color = (c: number | undefined) => c === 1 || c === 3;
  return shape.length === 2 || (shape.length === 3 && (color(shape[0]) || color(shape[2])));
}

/** What a certifier accepts and returns, from its manifest. */
export function describeCertifier(m: Manifest) {
  const modes: ("dual" | "global")[] = m.estimator ? ["dual", "global"] : ["global"];
  return {
    id: m.id,
    title: m.title ?? null,
    description: m.description ?? null,
    input: {
      shape: m.input.shape,
      range: m.input.range,
      accepts: (takesImages(m.input.shape) ? ["tensor", "image"] : ["tensor"]) as ("tensor" | "image")[],
      preprocess: m.input.preprocess ?? null,
    },
    labels: m.labels,
    modes,
    defaultMode: modes[0] ?? "global",
    options: m.options.map((o, index) => ({ index, sigma: o.sigma, name: o.name ?? null })),
    estimator: m.estimator
      ? { sigma: m.estimator.sigma, routes: estimatorRoutes(m), fallback: m.estimator.fallback ?? null }
      : null,
    defaults: m.defaults,
    models: Object.fromEntries(
      Object.entries(m.models).map(([name, e]) => [name, e.file.slice(0, -".onnx".length)]),
    ),
    provenance: m.provenance ?? null,
    modelProvenance: Object.fromEntries(
      Object.entries(m.models).flatMap(([name, e]) => (e.provenance ? [[name, e.provenance]] : [])),
    ),
  };
}
