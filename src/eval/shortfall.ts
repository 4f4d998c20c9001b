/**
 * The worst shortfall to an envelope: how far one configuration's certified accuracy curve falls
 * below the best of several others (the global sigmas) at its worst radius. "The best single
 * certifier over the whole range" is the configuration whose worst shortfall is smallest; 0 means
 * it is at least as good as every one of them at every radius.
 */

/** One point of a certified accuracy curve: accuracy is a fraction in [0, 1]. */
export interface CurvePoint {
  radius: number;
  accuracy: number;
}

export interface Shortfall {
  /** Percentage points below the envelope at the worst radius; 0 when never below. */
  points: number;
  /** The worst radius (the smallest on ties); the first radius in range when never below. */
  radius: number;
}

/** Accuracy of `curve` at radius r; a curve without that radius cannot be compared there. */
function at(curve: readonly CurvePoint[], r: number): number {
  const p = curve.find((q) => q.radius === r);
  if (!p) throw new RangeError(`the curve has no point at radius ${r}`);
  return p.accuracy;
}

/** At each radius of the first curve, the best accuracy of any curve there. */
export function envelope(curves: readonly (readonly CurvePoint[])[]): CurvePoint[] {
  const first = curves[0];
  if (!first) throw new RangeError("an envelope needs at least one curve");
  return first.map(({ radius }) => ({ radius, accuracy: Math.max(...curves.map((c) => at(c, radius))) }));
}

/**
 * The largest amount, in points, by which `curve` falls below `env` at the envelope's radii in
 * [from, to], and where. Accuracies are compared in points rounded to 1e-9, so that fractions of
 * the same counts that differ only in floating point give no spurious shortfall or tie-break.
 */
export function worstShortfall(
  env: readonly CurvePoint[],
  curve: readonly CurvePoint[],
  from = 0,
  to = 2,
): Shortfall {
  const radii = env.filter((p) => p.radius >= from && p.radius <= to);
  const first = radii[0];
  if (!first) throw new RangeError(`the envelope has no radius in [${from}, ${to}]`);
  let worst: Shortfall = { points: 0, radius: first.radius };
  for (const p of radii) {
    const points = Math.round(1e11 * (p.accuracy - at(curve, p.radius))) / 1e9;
    if (points > worst.points) worst = { points, radius: p.radius };
  }
  return worst;
}
