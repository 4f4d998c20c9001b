#!/usr/bin/env node
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { deployConfig } from "../lib/config.js";
import { DualrsStack } from "../lib/dualrs-stack.js";
import { suppressReviewedFindings } from "../lib/nag-suppressions.js";

/** `cdk deploy` from infra/: one stack, its settings from context (see docs/deploy.md). */
const app = new App();
const stackName = (app.node.tryGetContext("stackName") as string | undefined) ?? "Dualrs";
const stack = new DualrsStack(app, stackName, {
  config: deployConfig(app.node.getAllContext()),
  // The account and region of the caller's credentials (CDK_DEFAULT_*): nothing is hard-coded.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: "dualrs: certified robustness service (API, GPU workers, Redis queue, S3 models)",
});
suppressReviewedFindings(stack);
// Synthesis (and so deployment) fails on any AwsSolutions finding not acknowledged in nag-suppressions.ts.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
