import { z } from "@hono/zod-openapi";
import type { Certificate } from "../../core/certificate.js";
import { NOISE_VERSIONS } from "../../core/noise.js";
import { orNull } from "./or-null.js";

/**
 * The certificate exactly as `src/core/certificate.ts` holds it; the type checks at the bottom
 * fail to compile when the two drift apart.
 */

export const OptionRefSchema = z
  .strictObject({
    index: z.number().int().describe("index of the classifier option in the certifier"),
    sigma: z.number().describe("the option's noise level"),
    name: z.string().optional(),
  })
  .openapi("OptionRef");

export const StageReportSchema = z
  .strictObject({
    sigma: z.number().describe("noise level this stage was smoothed with"),
    n0: z.number().int().describe("selection draws"),
    n: z
      .number()
      .int()
      .describe("estimation draws counted (fewer than parameters.n when a sequential stage stopped early)"),
    alpha: z.number().describe("share of alpha this stage spent"),
    selectionCounts: z.array(z.number().int()).describe("class counts of the n0 selection draws"),
    counts: z.array(z.number().int()).describe("class counts of the n estimation draws"),
    top: z.number().int().describe("the candidate class cA (argmax of the selection counts)"),
    nA: z.number().int().describe("estimation draws that predicted cA"),
    pALower: z.number().describe("one-sided (1 - alpha) lower confidence bound on P(f(x + eps) = cA)"),
    abstained: z.boolean(),
    radius: z.number().describe("sigma * PhiInv(pALower); 0 when abstaining"),
    draws: z.number().int().describe("noisy draws this stage took: n0 + n"),
    looks: z
      .array(z.number().int())
      .nullable()
      .describe(
        "sequential schedule: cumulative estimation draws at each look, pALower at alpha / looks.length; null: fixed n",
      ),
    option: orNull(OptionRefSchema).describe(
      "the classifier option used (classifier stage) or chosen (estimator stage)",
    ),
  })
  .openapi("StageReport");

export const RunnerUpSchema = z
  .strictObject({
    option: OptionRefSchema,
    pUpper: z
      .number()
      .describe("upper confidence bound on the estimator's probability of routing to this option"),
    overtake: z
      .number()
      .describe(
        "L2 radius within which the estimator cannot route to this option: sigma_e / 2 (PhiInv(pALower) - PhiInv(pUpper))",
      ),
  })
  .openapi("RunnerUp");

/** A runner-up's classifier stage: a stage report (one object, not an allOf, so it stays strict). */
export const RunnerUpStageSchema = z
  .strictObject({
    ...StageReportSchema.shape,
    overtake: z.number().describe("the runner-up's overtake radius"),
    rank: z.number().int().describe("1 for the nearest runner-up, and so on"),
  })
  .openapi("RunnerUpStage");

export const RoutingReportSchema = z
  .strictObject({
    singleRadius: z
      .number()
      .describe("min(R_sigma, R_c) of the two stages: the radius single routing claims from them"),
    alphas: z
      .strictObject({
        top: z.number().describe("alpha of the routed classifier stage"),
        upper: z.number().describe("alpha of each upper bound on an estimator class other than the top one"),
        rank: z.number().describe("alpha of each runner-up rank"),
      })
      .describe("the split of alpha_c, fixed before any draw"),
    runnerUps: z
      .array(RunnerUpSchema)
      .describe("every option besides the routed one the estimator could route to, nearest first"),
    certified: z.array(RunnerUpStageSchema).describe("runner-ups certified with fresh draws, in rank order"),
  })
  .openapi("RoutingReport");

export const CertificateSchema = z
  .strictObject({
    certifier: z.string(),
    mode: z.enum(["dual", "global"]),
    prediction: z
      .strictObject({ index: z.number().int(), label: z.string() })
      .nullable()
      .describe("the smoothed classifier's class, or null when it abstains"),
    abstained: z.boolean(),
    abstainReason: z
      .enum(["estimator", "classifier"])
      .nullable()
      .describe(
        "why the certificate abstains (null: it does not). estimator: the variance estimator could not tell with confidence which noise level suits the input; try a larger n or alpha, or a certifier with a fallback option. classifier: the smoothed classifier showed no confident majority class under its noise; try a larger n or alpha, or a smaller sigma or another certifier",
      ),
    radius: z
      .number()
      .describe(
        "certified L2 radius: min(R_sigma, R_c) in dual mode; with set routing possibly more, where the options the estimator could route to agree",
      ),
    fallback: z.boolean().describe("the estimator abstained and the fallback option was used: radius 0"),
    alpha: z.number().describe("probability that the certificate is wrong, at most"),
    seed: z
      .number()
      .int()
      .describe("noise seed: with the input, parameters and models, reproduces the certificate"),
    parameters: z.strictObject({
      n0: z.number().int(),
      n: z.number().int(),
      alpha: z.number(),
      alphaSplit: z.number().nullable(),
      sigma: z.number().nullable(),
      fallback: z.number().int().nullable(),
      sampling: z.enum(["fixed", "sequential"]),
      targetRadius: z.number().nullable(),
      routing: z.enum(["single", "set"]).nullable().describe("dual mode's routing; null in global mode"),
    }),
    certifiedAtTarget: z
      .boolean()
      .nullable()
      .describe("with a targetRadius: whether the radius reaches it; null without one"),
    stages: z.strictObject({
      estimator: orNull(StageReportSchema),
      classifier: orNull(StageReportSchema),
    }),
    routing: orNull(RoutingReportSchema).describe(
      "set routing's bounds and extra stages (docs/routing.md); null with single routing or in global mode",
    ),
    models: z.record(z.string(), z.string()).describe("sha256 of each model file the certificate depends on"),
    noise: z
      .enum(NOISE_VERSIONS)
      .describe(
        "the noise generator of every draw (Philox4x32-10, or its additive variant on GPU providers)",
      ),
  })
  .openapi("Certificate");

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const exact: Same<z.infer<typeof CertificateSchema>, Certificate> = true;
void exact;
