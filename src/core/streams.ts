/**
 * Noise streams. Every phase of every stage draws from its own stream, so selection and estimation
 * draws are independent (CERTIFY needs fresh draws to count cA) and the two stages of a dual
 * certificate are independent (their failure probabilities add up by a union bound).
 */
export const Stage = { classifier: 0, estimator: 1 } as const;
/**
 * A named stage, or set routing's runner-up of rank k >= 1 (docs/routing.md): stage 1024 + k, far
 * from the named stages and from the streams the label table draws from (8 up).
 */
export type Stage = keyof typeof Stage | { runnerUp: number };

export const Phase = { selection: 0, estimation: 1, prediction: 2 } as const;
export type Phase = keyof typeof Phase;

const RUNNER_UP_STAGES = 1024;

export function streamOf(stage: Stage, phase: Phase): number {
  const s = typeof stage === "string" ? Stage[stage] : RUNNER_UP_STAGES + stage.runnerUp;
  return s * 4 + Phase[phase];
}
