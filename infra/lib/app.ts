import { App, type AppProps, type Environment, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { deployConfig } from "./config.js";
import { DualrsStack } from "./dualrs-stack.js";
import { suppressReviewedFindings } from "./nag-suppressions.js";

export interface DualrsApp {
  app: App;
  stack: DualrsStack;
}

/**
 * The CDK app: one stack (named by the `stackName` context, default Dualrs), its settings from
 * context, and the AwsSolutions rule pack, which fails synthesis (and so deployment) on any
 * finding not acknowledged in nag-suppressions.ts.
 */
export function dualrsApp(props: AppProps & { env?: Environment } = {}): DualrsApp {
  const { env, ...appProps } = props;
  const app = new App(appProps);
  const stackName = (app.node.tryGetContext("stackName") as string | undefined) ?? "Dualrs";
  const stack = new DualrsStack(app, stackName, {
    config: deployConfig(app.node.getAllContext()),
    env,
    description: "dualrs: certified robustness service (API, GPU workers, Redis queue, S3 models)",
  });
  suppressReviewedFindings(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
