import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The app exactly as `cdk synth` runs it from infra/: cdk.json's command, with the variables the
// CLI sets, and no AWS credentials at all.
const keyHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
let outdir: string;

function synth(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && !k.startsWith("CDK_")),
  );
  return new Promise((resolve) => {
    execFile(
      "npx",
      ["tsx", "bin/dualrs.ts"],
      { cwd: "infra", env: { ...clean, AWS_EC2_METADATA_DISABLED: "true", CDK_OUTDIR: outdir, ...env } },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), "dualrs-cdk-synth-"));
});

afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

describe("cdk synth", () => {
  it("synthesizes the stack without credentials, given a region and the API key hashes", async () => {
    const cdkJson = JSON.parse(await readFile("infra/cdk.json", "utf8"));
    expect(cdkJson.app).toBe("npx tsx bin/dualrs.ts");
    const context = { ...cdkJson.context, apiKeyHashes: keyHash, stackName: "DualrsTest" };
    const run = await synth({ CDK_DEFAULT_REGION: "eu-west-1", CDK_CONTEXT_JSON: JSON.stringify(context) });
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    const template = JSON.parse(await readFile(join(outdir, "DualrsTest.template.json"), "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    // Without a certificate: plain HTTP on 80, forwarded to the API, and no HTTPS listener.
    const listeners = Object.values(
      template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    )
      .filter((r) => r.Type === "AWS::ElasticLoadBalancingV2::Listener")
      .map((r) => [
        r.Properties.Port,
        r.Properties.Protocol,
        (r.Properties.DefaultActions as { Type: string }[])[0]?.Type,
      ]);
    expect(listeners).toEqual([[80, "HTTP", "forward"]]);
    // Environment-agnostic in the account: CloudFormation fills it in at deployment.
    expect(JSON.stringify(template)).toContain('{"Ref":"AWS::AccountId"}');
  });

  it("refuses to run without the API key hashes, naming the setting", async () => {
    const run = await synth({ CDK_DEFAULT_REGION: "eu-west-1", CDK_CONTEXT_JSON: "{}" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("-c apiKeyHashes");
  });
});
