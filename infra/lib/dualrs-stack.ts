import { CfnOutput, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { Alarms } from "./alarms.js";
import { API_PORT, ApiService } from "./api-service.js";
import { Buckets, MODELS_PREFIX } from "./buckets.js";
import type { DeployConfig } from "./config.js";
import { GpuCapacity } from "./gpu-capacity.js";
import { METRICS_NAMESPACE } from "./metrics.js";
import { Network } from "./network.js";
import { Queue } from "./queue.js";
import { serviceImage } from "./service-image.js";
import { ServiceSecrets } from "./service-secrets.js";
import { WorkerService } from "./worker-service.js";

export interface DualrsStackProps extends StackProps {
  config: DeployConfig;
}

/** The certification service on AWS: API on Fargate, GPU workers on ECS, Redis queue, S3 models. */
export class DualrsStack extends Stack {
  readonly network: Network;
  readonly buckets: Buckets;
  readonly queue: Queue;
  readonly secrets: ServiceSecrets;
  readonly cluster: ecs.Cluster;
  readonly capacity: GpuCapacity;
  readonly api: ApiService;
  readonly workers: WorkerService;
  readonly alarms: Alarms;
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: DualrsStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logRetention = c.logRetentionDays as logs.RetentionDays;

    this.network = new Network(this, "Network", {
      maxAzs: c.maxAzs,
      natGateways: c.natGateways,
      logRetention,
    });
    const { vpc } = this.network;
    this.buckets = new Buckets(this, "Buckets");
    this.queue = new Queue(this, "Queue", {
      vpc,
      nodeType: c.redisNodeType,
      replicas: c.redisReplicas,
      port: c.redisPort,
    });
    this.secrets = new ServiceSecrets(this, "Secrets", {
      apiKeyHashes: c.apiKeyHashes,
      apiKeysSecretArn: c.apiKeysSecretArn,
    });
    this.topic = new sns.Topic(this, "Alerts", { displayName: "dualrs alerts", enforceSSL: true });
    if (c.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));

    this.cluster = new ecs.Cluster(this, "Cluster", {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.capacity = new GpuCapacity(this, "Gpu", {
      cluster: this.cluster,
      instanceType: c.instanceType,
      maxInstances: c.workersMax,
      notifications: this.topic,
    });

    const logGroup = (name: string) =>
      new logs.LogGroup(this, name, { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const image = serviceImage(this, c.image);
    // Plain settings only; everything secret comes from Secrets Manager (ServiceSecrets, Queue.authToken).
    const common = {
      MODEL_STORE: `s3://${this.buckets.models.bucketName}/${MODELS_PREFIX}`,
      AWS_REGION: this.region,
      REDIS_HOST: this.queue.host,
      REDIS_PORT: String(this.queue.port),
      CLOUDWATCH_NAMESPACE: METRICS_NAMESPACE,
      DEPLOYMENT_NAME: this.stackName,
    };
    const redisPassword = { REDIS_PASSWORD: ecs.Secret.fromSecretsManager(this.queue.authToken, "password") };

    this.workers = new WorkerService(this, "Workers", {
      cluster: this.cluster,
      capacity: this.capacity,
      image,
      // A job in progress at SIGTERM gets 90 s to finish (stopTimeout is 120 s) before it is handed back.
      environment: { ...common, PROVIDERS: "cuda,cpu", WORKER_CONCURRENCY: "1", WORKER_DRAIN_MS: "90000" },
      secrets: { ...this.secrets.forWorker(), ...redisPassword },
      logGroup: logGroup("WorkerLogs"),
      models: this.buckets.models,
      cpu: c.workerCpu,
      memoryMiB: c.workerMemoryMiB,
      minWorkers: c.workersMin,
      maxWorkers: c.workersMax,
      backlogPerWorker: c.backlogPerWorker,
      deploymentName: this.stackName,
    });
    this.api = new ApiService(this, "Api", {
      cluster: this.cluster,
      image,
      environment: {
        ...common,
        HOST: "0.0.0.0",
        PORT: String(API_PORT),
        PROVIDERS: "cpu",
        WORKER_CONCURRENCY: "0",
        ...apiLimits(c),
      },
      secrets: { ...this.secrets.forApi(), ...redisPassword },
      logGroup: logGroup("ApiLogs"),
      models: this.buckets.models,
      accessLogs: this.buckets.accessLogs,
      cpu: c.apiCpu,
      memoryMiB: c.apiMemoryMiB,
      minTasks: c.apiMin,
      maxTasks: c.apiMax,
      requestsPerTask: c.apiRequestsPerTask,
      certificateArn: c.certificateArn,
      ingressCidr: c.ingressCidr,
    });
    this.queue.allowFrom(this.workers.securityGroup);
    this.queue.allowFrom(this.api.securityGroup);

    this.alarms = new Alarms(this, "Alarms", {
      topic: this.topic,
      deploymentName: this.stackName,
      loadBalancer: this.api.loadBalancer,
      targetGroup: this.api.targetGroup,
    });

    const scheme = c.certificateArn ? "https" : "http";
    new CfnOutput(this, "ApiUrl", { value: `${scheme}://${this.api.loadBalancer.loadBalancerDnsName}` });
    new CfnOutput(this, "ModelStore", { value: common.MODEL_STORE });
    new CfnOutput(this, "ApiKeysSecret", { value: this.secrets.apiKeys.secretArn });
    new CfnOutput(this, "WebhookSecret", { value: this.secrets.webhookSecret.secretArn });
    new CfnOutput(this, "AlertsTopic", { value: this.topic.topicArn });
  }
}

/** The API's limits that the deployment context sets; those it leaves out keep the API's defaults. */
export function apiLimits(c: DeployConfig): Record<string, string> {
  const settings: [string, number | string[] | undefined][] = [
    ["RATE_LIMIT", c.rateLimit],
    ["RATE_LIMIT_WINDOW", c.rateLimitWindow],
    ["MAX_QUEUED_JOBS", c.maxQueuedJobs],
    ["MAX_DRAWS", c.maxDraws],
    ["METRICS_TENANTS", c.metricsTenants],
    ["TENANT_WEIGHTS", c.tenantWeights],
  ];
  return Object.fromEntries(settings.flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
}
