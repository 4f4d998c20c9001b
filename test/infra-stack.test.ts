import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dualrsApp } from "../infra/lib/app.js";
import { deployConfig } from "../infra/lib/config.js";
import { apiLimits, type DualrsStack } from "../infra/lib/dualrs-stack.js";

// One synthesis of the app that `cdk deploy` runs (infra/bin/dualrs.ts), with cdk.json's context and
// the AwsSolutions pack, shared by every assertion below: it is the slow part. No AWS credentials
// are needed; the account is a dummy and the AMI comes from a public SSM parameter.
const certificateArn = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000";
const keyHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

let outdir: string;
let stack: DualrsStack;
let template: Template;
let synthError: unknown;
type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), "dualrs-cdk-"));
  const defaults = JSON.parse(readFileSync("infra/cdk.json", "utf8")).context;
  const context = { ...defaults, apiKeyHashes: keyHash, certificateArn, alarmEmail: "ops@example.com" };
  const built = dualrsApp({ outdir, context, env: { account: "111122223333", region: "us-east-1" } });
  const app = built.app;
  stack = built.stack;
  try {
    app.synth();
  } catch (e) {
    synthError = e;
  }
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const ref = (id: string) => ({ Ref: id });
const logicalId = (node: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId((node.node.defaultChild ?? node) as never);

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every statement of every policy attached to role `roleId`, inline or managed. */
function statementsOf(roleId: string): Statement[] {
  const role = resources[roleId];
  expect(role?.Type).toBe("AWS::IAM::Role");
  expect(role?.Properties.ManagedPolicyArns ?? []).toEqual([]);
  expect(role?.Properties.Policies ?? []).toEqual([]);
  return ofType("AWS::IAM::Policy")
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

function taskRoleOf(container: string): string {
  const [, task] = ofType("AWS::ECS::TaskDefinition").find(([, t]) =>
    (t.Properties.ContainerDefinitions as { Name: string }[]).some((c) => c.Name === container),
  ) ?? [undefined, undefined];
  const arn = task?.Properties.TaskRoleArn as { "Fn::GetAtt": [string, string] };
  return arn["Fn::GetAtt"][0];
}

describe("the synthesized stack", () => {
  it("passes the AwsSolutions rule pack, every acknowledged finding with its reason", () => {
    // Synthesis runs the pack as `cdk deploy` does, and fails on any open finding.
    expect(synthError).toBeUndefined();
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(
      report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.resourceLogicalId}`),
    ).toEqual([]);
    expect(report.success).toBe(true);
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .map(([id, reason]) => ({ id, reason }))
      .filter((a) => a.id.includes("AwsSolutions-"));
    expect(acknowledged.length).toBeGreaterThanOrEqual(10);
    for (const a of acknowledged) {
      // One finding per acknowledgement (IAM5[Resource::*], not IAM5), each with a real reason.
      expect(a.id).toMatch(/::AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      if (a.id.includes("-IAM")) expect(a.id).toContain("[");
      expect(a.reason.length, a.id).toBeGreaterThan(60);
    }
  });

  it("reserves one GPU for each worker task, on EC2 with its own network interface", () => {
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      RequiresCompatibilities: ["EC2"],
      NetworkMode: "awsvpc",
      ContainerDefinitions: [
        Match.objectLike({
          Name: "worker",
          Command: ["worker"],
          ResourceRequirements: [{ Type: "GPU", Value: "1" }],
          StopTimeout: 120,
        }),
      ],
    });
  });

  it("runs the workers on the ECS GPU-optimized AMI, behind a capacity provider with managed scaling", () => {
    const parameters = template.toJSON().Parameters as Record<string, { Default?: string }>;
    const [amiParameter] =
      Object.entries(parameters).find(([, p]) => p.Default?.includes("/ecs/optimized-ami/")) ?? [];
    expect(parameters[amiParameter ?? ""]?.Default).toBe(
      "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id",
    );
    template.hasResourceProperties("AWS::EC2::LaunchTemplate", {
      LaunchTemplateData: Match.objectLike({
        ImageId: ref(amiParameter ?? ""),
        InstanceType: "g4dn.xlarge",
        MetadataOptions: Match.objectLike({ HttpTokens: "required" }),
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ Encrypted: true }) })],
      }),
    });
    const [, launchTemplate] = ofType("AWS::EC2::LaunchTemplate")[0] ?? [];
    const userData = JSON.stringify(launchTemplate?.Properties.LaunchTemplateData);
    expect(userData).toContain("ECS_ENABLE_GPU_SUPPORT=true");
    expect(userData).toContain("ECS_CLUSTER=");
    template.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", { MinSize: "0", MaxSize: "4" });
    template.hasResourceProperties("AWS::ECS::CapacityProvider", {
      AutoScalingGroupProvider: Match.objectLike({
        ManagedScaling: Match.objectLike({ Status: "ENABLED", TargetCapacity: 100 }),
        ManagedTerminationProtection: "ENABLED",
      }),
    });
    const [providerId] = ofType("AWS::ECS::CapacityProvider")[0] ?? [];
    template.hasResourceProperties("AWS::ECS::Service", {
      CapacityProviderStrategy: [Match.objectLike({ CapacityProvider: ref(providerId ?? "") })],
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: "DISABLED" }) },
    });
  });

  it("scales the workers on queue backlog per worker, from zero, with a step policy", () => {
    const workerService = logicalId(stack.workers.service);
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", {
      MinCapacity: 0,
      MaxCapacity: 4,
      ResourceId: Match.objectLike({
        "Fn::Join": Match.arrayWith([
          Match.arrayWith([Match.objectLike({ "Fn::GetAtt": [workerService, "Name"] })]),
        ]),
      }),
    });
    const backlogAlarms = ofType("AWS::CloudWatch::Alarm").filter(([, a]) =>
      JSON.stringify(a.Properties.Metrics ?? []).includes('"MetricName":"QueueBacklog"'),
    );
    expect(backlogAlarms).toHaveLength(2);
    for (const [, alarm] of backlogAlarms) {
      const metrics = alarm.Properties.Metrics as { Id: string; Expression?: string; MetricStat?: unknown }[];
      expect(metrics.find((m) => m.Expression)?.Expression).toMatch(/backlog.*\/.*workers/);
      expect(metrics.find((m) => m.Id === "backlog")?.MetricStat).toMatchObject({
        Metric: {
          Namespace: "Dualrs",
          MetricName: "QueueBacklog",
          Dimensions: [{ Name: "Deployment", Value: "Dualrs" }],
        },
      });
      expect(metrics.find((m) => m.Id === "workers")?.MetricStat).toMatchObject({
        Metric: { Namespace: "ECS/ContainerInsights", MetricName: "RunningTaskCount" },
      });
      const [policyRef] = alarm.Properties.AlarmActions as { Ref: string }[];
      expect(resources[policyRef?.Ref ?? ""]?.Properties.PolicyType).toBe("StepScaling");
    }
    const thresholds = backlogAlarms.map(([, a]) => [
      a.Properties.ComparisonOperator,
      a.Properties.Threshold,
    ]);
    expect(thresholds).toContainEqual(["GreaterThanOrEqualToThreshold", 4]);
    expect(thresholds).toContainEqual(["LessThanOrEqualToThreshold", 0.5]);
    // With no worker running, any backlog must count as a full target, or nothing would start one.
    const expression = ((backlogAlarms[0]?.[1].Properties.Metrics ?? []) as { Expression?: string }[]).find(
      (m) => m.Expression,
    );
    expect(expression?.Expression).toContain("* 4");
  });

  it("scales the API on requests per task", () => {
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: "ALBRequestCountPerTarget" }),
        TargetValue: 1000,
      }),
    });
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", {
      MinCapacity: 2,
      MaxCapacity: 6,
    });
  });

  it("gives the worker and API roles read-only access to the model bucket, and nothing to write", () => {
    const bucket = logicalId(stack.buckets.models);
    for (const container of ["worker", "api"]) {
      const statements = statementsOf(taskRoleOf(container));
      const granted = statements.flatMap(actions).sort();
      expect(granted).toEqual(["cloudwatch:PutMetricData", "s3:GetObject", "s3:ListBucket"]);
      for (const s of statements) expect(s.Effect).toBe("Allow");
      for (const s of statements.filter((s) => JSON.stringify(s.Resource).includes(bucket))) {
        for (const action of actions(s)) expect(action).toMatch(/^s3:(GetObject|ListBucket)$/);
      }
      const metrics = statements.find((s) => actions(s).includes("cloudwatch:PutMetricData"));
      expect(metrics?.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "Dualrs" } });
    }
    // Nor does the bucket policy let anyone but TLS callers in.
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(bucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
    const bucketPolicy = ofType("AWS::S3::BucketPolicy").find(
      ([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify(ref(bucket)),
    );
    const allows = (
      (bucketPolicy?.[1].Properties.PolicyDocument ?? { Statement: [] }) as { Statement: Statement[] }
    ).Statement.filter((s) => s.Effect === "Allow");
    expect(allows).toEqual([]);
  });

  it("admits no public traffic to the queue or the tasks", () => {
    const publicCidr = (rule: { CidrIp?: string; CidrIpv6?: string }) =>
      rule.CidrIp === "0.0.0.0/0" || rule.CidrIpv6 === "::/0";
    const lbGroup = logicalId(stack.api.loadBalancerSecurityGroup);
    for (const [id, group] of ofType("AWS::EC2::SecurityGroup")) {
      const ingress = (group.Properties.SecurityGroupIngress ?? []) as {
        CidrIp?: string;
        FromPort?: number;
      }[];
      if (id === lbGroup) {
        expect(ingress.map((r) => r.FromPort).sort()).toEqual([443, 80]);
      } else {
        expect(ingress.filter(publicCidr), id).toEqual([]);
      }
    }
    const rulesInto = (groupId: string) =>
      ofType("AWS::EC2::SecurityGroupIngress")
        .map(([, r]) => r.Properties)
        .filter((p) => JSON.stringify(p.GroupId).includes(`"${groupId}"`));
    // Redis: only the two task groups, only on its port.
    const queueRules = rulesInto(logicalId(stack.queue.securityGroup));
    expect(
      queueRules.map((r) => (r.SourceSecurityGroupId as { "Fn::GetAtt": string[] })["Fn::GetAtt"][0]).sort(),
    ).toEqual([logicalId(stack.api.securityGroup), logicalId(stack.workers.securityGroup)].sort());
    for (const r of queueRules) expect([r.FromPort, r.ToPort, r.CidrIp]).toEqual([6380, 6380, undefined]);
    // Workers: nothing comes in. API tasks: only the load balancer, on the API port.
    expect(rulesInto(logicalId(stack.workers.securityGroup))).toEqual([]);
    expect(rulesInto(logicalId(stack.api.securityGroup))).toEqual([
      expect.objectContaining({
        FromPort: 8080,
        SourceSecurityGroupId: { "Fn::GetAtt": [lbGroup, "GroupId"] },
      }),
    ]);
    // The queue lives in isolated subnets (no route out), the tasks in private ones.
    const isolated = stack.network.vpc.isolatedSubnets.map((s) => logicalId(s as never));
    template.hasResourceProperties("AWS::ElastiCache::SubnetGroup", { SubnetIds: isolated.map(ref) });
    for (const [, service] of ofType("AWS::ECS::Service")) {
      expect(service.Properties.NetworkConfiguration).toMatchObject({
        AwsvpcConfiguration: { AssignPublicIp: "DISABLED" },
      });
    }
  });

  it("encrypts the queue, the models and the instance disks; never evicts a job", () => {
    template.hasResourceProperties("AWS::ElastiCache::ReplicationGroup", {
      Engine: "redis",
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: "required",
      AtRestEncryptionEnabled: true,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
      Port: 6380,
    });
    const redis = ofType("AWS::ElastiCache::ReplicationGroup")[0]?.[1];
    // A dynamic reference, resolved by CloudFormation: the token never appears in the template.
    expect(redis?.Properties.AuthToken).toEqual({
      "Fn::Join": [
        "",
        ["{{resolve:secretsmanager:", ref(logicalId(stack.queue.authToken)), ":SecretString:password::}}"],
      ],
    });
    template.hasResourceProperties("AWS::ElastiCache::ParameterGroup", {
      Properties: { "maxmemory-policy": "noeviction" },
    });
    template.hasResourceProperties("AWS::S3::Bucket", {
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }),
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  it("injects API keys, the webhook secret and the queue token as secrets, not environment variables", () => {
    const secretNames = ["API_KEYS", "WEBHOOK_SECRET", "REDIS_PASSWORD"];
    const containers = ofType("AWS::ECS::TaskDefinition").flatMap(
      ([, t]) =>
        t.Properties.ContainerDefinitions as {
          Name: string;
          Environment: { Name: string }[];
          Secrets: { Name: string; ValueFrom: unknown }[];
        }[],
    );
    expect(containers.map((c) => c.Name).sort()).toEqual(["api", "worker"]);
    for (const c of containers) {
      const env = c.Environment.map((e) => e.Name);
      for (const name of secretNames) expect(env).not.toContain(name);
      expect(env).toEqual(
        expect.arrayContaining(["MODEL_STORE", "REDIS_HOST", "CLOUDWATCH_NAMESPACE", "DEPLOYMENT_NAME"]),
      );
      for (const s of c.Secrets) {
        const secretIds = JSON.stringify(s.ValueFrom).match(/"Ref":"(\w+)"/g) ?? [];
        expect(secretIds.map((r) => resources[r.slice(7, -1)]?.Type)).toEqual([
          "AWS::SecretsManager::Secret",
        ]);
      }
    }
    const api = containers.find((c) => c.Name === "api");
    const worker = containers.find((c) => c.Name === "worker");
    expect(api?.Secrets.map((s) => s.Name).sort()).toEqual(["API_KEYS", "REDIS_PASSWORD", "WEBHOOK_SECRET"]);
    expect(worker?.Secrets.map((s) => s.Name).sort()).toEqual(["REDIS_PASSWORD", "WEBHOOK_SECRET"]);
  });

  it("keeps logs for a set period and sends every container's output there", () => {
    const groups = ofType("AWS::Logs::LogGroup");
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const [id, g] of groups) expect(g.Properties.RetentionInDays, id).toBe(30);
    for (const [, t] of ofType("AWS::ECS::TaskDefinition")) {
      for (const c of t.Properties.ContainerDefinitions as { LogConfiguration: { LogDriver: string } }[]) {
        expect(c.LogConfiguration.LogDriver).toBe("awslogs");
      }
    }
    template.hasResourceProperties("AWS::ECS::Cluster", {
      ClusterSettings: [{ Name: "containerInsights", Value: "enabled" }],
    });
  });

  it("serves HTTPS with the given certificate, redirects HTTP, and checks /readyz", () => {
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Port: 443,
      Protocol: "HTTPS",
      Certificates: [{ CertificateArn: certificateArn }],
    });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Port: 80,
      DefaultActions: [
        Match.objectLike({ Type: "redirect", RedirectConfig: Match.objectLike({ Protocol: "HTTPS" }) }),
      ],
    });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
      HealthCheckPath: "/readyz",
      TargetType: "ip",
      Port: 8080,
    });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
      Scheme: "internet-facing",
      LoadBalancerAttributes: Match.arrayWith([{ Key: "access_logs.s3.enabled", Value: "true" }]),
    });
  });

  it("alarms on failed jobs, queue age and 5xx, to the alerts topic", () => {
    const topic = logicalId(stack.topic);
    const alarm = (metricName: string) =>
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        MetricName: metricName,
        AlarmActions: [ref(topic)],
      });
    for (const name of [
      "JobsFailed",
      "OldestQueuedJobAgeSeconds",
      "HTTPCode_Target_5XX_Count",
      "HTTPCode_ELB_5XX_Count",
    ]) {
      alarm(name);
    }
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
    });
  });

  it("builds the image from the repository's Dockerfile, GPU target", () => {
    const assets = JSON.parse(readFileSync(join(outdir, "Dualrs.assets.json"), "utf8"));
    const images = Object.values(assets.dockerImages) as {
      source: { dockerBuildTarget?: string; platform?: string };
    }[];
    expect(images.map((i) => i.source)).toEqual([
      expect.objectContaining({ dockerBuildTarget: "gpu", platform: "linux/amd64" }),
    ]);
  });
});

describe("deployment context", () => {
  it("fills in defaults and reads numbers given as strings on the command line", () => {
    const c = deployConfig({ apiKeyHashes: keyHash, workersMax: "8", instanceType: "g5.xlarge" });
    expect(c).toMatchObject({
      workersMin: 0,
      workersMax: 8,
      instanceType: "g5.xlarge",
      apiKeyHashes: [keyHash],
    });
    expect(deployConfig({ apiKeyHashes: `team-a:${keyHash},${keyHash}` }).apiKeyHashes).toEqual([
      `team-a:${keyHash}`,
      keyHash,
    ]);
  });

  it("names each bad setting", () => {
    expect(() => deployConfig({})).toThrow(
      /-c apiKeyHashes: give exactly one of apiKeyHashes and apiKeysSecretArn/,
    );
    for (const bad of ["not-a-hash", `team a:${keyHash}`]) {
      expect(() => deployConfig({ apiKeyHashes: bad })).toThrow(
        /-c apiKeyHashes: expected sha256 hex digests/,
      );
    }
    expect(() => deployConfig({ apiKeyHashes: keyHash, workersMin: "5", workersMax: "2" })).toThrow(
      /-c workersMin/,
    );
    expect(() => deployConfig({ apiKeyHashes: keyHash, metricsTenants: "ops" })).toThrow(
      /-c metricsTenants: "ops" is no tenant of apiKeyHashes/,
    );
    expect(() => deployConfig({ apiKeyHashes: keyHash, metricsTenants: "Ops Team" })).toThrow(
      /-c metricsTenants: expected tenant names/,
    );
    expect(() => deployConfig({ apiKeyHashes: keyHash, metricsTenants: "*,ops" })).toThrow(
      /-c metricsTenants: expected tenant names/,
    );
    expect(apiLimits(deployConfig({ apiKeyHashes: keyHash, metricsTenants: " * " }))).toEqual({
      METRICS_TENANTS: "*",
    });
    expect(() => deployConfig({ apiKeyHashes: keyHash, rateLimitWindow: "0.5" })).toThrow(
      /-c rateLimitWindow/,
    );
    for (const bad of ["ops", "ops:0", "ops:x"]) {
      expect(() => deployConfig({ apiKeyHashes: `ops:${keyHash}`, tenantWeights: bad }), bad).toThrow(
        /-c tenantWeights: expected TENANT:WEIGHT/,
      );
    }
    expect(() => deployConfig({ apiKeyHashes: keyHash, tenantWeights: "ops:2" })).toThrow(
      /-c tenantWeights: "ops" is no tenant of apiKeyHashes/,
    );
  });

  it("passes the API's limits it sets to the API's tasks, and leaves the rest to the API's defaults", () => {
    const c = deployConfig({
      apiKeyHashes: `ops:${keyHash},${keyHash}`,
      rateLimit: "120",
      maxQueuedJobs: "0",
      maxDraws: "5000000",
      metricsTenants: `ops, key-${keyHash.slice(0, 12)}`,
      tenantWeights: `ops:2,key-${keyHash.slice(0, 12)}:0.5`,
    });
    expect(apiLimits(c)).toEqual({
      RATE_LIMIT: "120",
      MAX_QUEUED_JOBS: "0",
      MAX_DRAWS: "5000000",
      METRICS_TENANTS: `ops,key-${keyHash.slice(0, 12)}`,
      TENANT_WEIGHTS: `ops:2,key-${keyHash.slice(0, 12)}:0.5`,
    });
    const api = ofType("AWS::ECS::TaskDefinition")
      .flatMap(
        ([, t]) => t.Properties.ContainerDefinitions as { Name: string; Environment: { Name: string }[] }[],
      )
      .find((d) => d.Name === "api");
    const names = api?.Environment.map((e) => e.Name) ?? [];
    for (const name of [
      "RATE_LIMIT",
      "RATE_LIMIT_WINDOW",
      "MAX_QUEUED_JOBS",
      "MAX_DRAWS",
      "METRICS_TENANTS",
      "TENANT_WEIGHTS",
    ])
      expect(names).not.toContain(name);
  });
});
