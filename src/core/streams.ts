/**
 * Noise streams. Every phase of every stage draws from its own stream, so selection and estimation
 * draws are independent (CERTIFY needs fresh draws to count cA) and the two stages of a dual
 * certificate are independent (their failure probabilities add up by a union bound).
 */
export const Stage = { classifier: 0, estimator: 1 } as const;
/** A named stage, or set routing's runner-up of rank k >= 1 (docs/routing.md), which gets stage 1 + k. */
export type Stage = keyof typeof Stage | { runnerUp: number };

export const Phase = { selection: 0, estimation: 1, prediction: 2 } as const;
export type Phase = keyof typeof Phase;

export function streamOf(stage: Stage, phase: Phase): number {
  const s = typeof stage === "string" ? Stage[stage] : 1 + stage.runnerUp;
  return s * 4 + Phase[phase];
}
