#!/usr/bin/env node
import { dualrsApp } from "../lib/app.js";

// `cdk deploy` from infra/ (see docs/deploy.md). The account and region are those the CDK CLI
// passes from the caller's profile or environment; nothing account-specific is written here. The
// region must be known (the load balancer's access-log policy depends on it); no credentials are
// needed to synthesize.
const region = process.env.CDK_DEFAULT_REGION;
if (!region)
  throw new Error("no AWS region: set AWS_REGION (or a profile's region) before cdk synth or deploy");
dualrsApp({ env: { account: process.env.CDK_DEFAULT_ACCOUNT, region } });
