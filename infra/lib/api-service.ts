import { Duration } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { TaskRole } from "./task-role.js";

/** The port the API listens on inside its task. */
export const API_PORT = 8080;

export interface ApiServiceProps {
  cluster: ecs.Cluster;
  image: ecs.ContainerImage;
  environment: Record<string, string>;
  secrets: Record<string, ecs.Secret>;
  logGroup: logs.ILogGroup;
  models: s3.IBucket;
  accessLogs: s3.IBucket;
  cpu: number;
  memoryMiB: number;
  minTasks: number;
  maxTasks: number;
  requestsPerTask: number;
  /** HTTPS on 443 (and HTTP redirected to it) when given; plain HTTP on 80 otherwise. */
  certificateArn?: string | undefined;
  ingressCidr: string;
}

/**
 * `dualrs serve` on Fargate (it runs no inference: WORKER_CONCURRENCY=0), in private subnets
 * behind an internet-facing Application Load Balancer that checks `/readyz`. Only the load
 * balancer may reach the tasks; the API scales on requests per task.
 */
export class ApiService extends Construct {
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  readonly taskRole: TaskRole;

  constructor(scope: Construct, id: string, props: ApiServiceProps) {
    super(scope, id);
    const { vpc } = props.cluster;
    this.taskRole = new TaskRole(this, "TaskRole", { description: "dualrs API tasks", models: props.models });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, "Task", {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      // The CUDA image is large; the default 20 GiB leaves too little room to unpack it.
      ephemeralStorageGiB: 40,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole.role,
    });
    this.taskDefinition.addContainer("api", {
      image: props.image,
      command: ["serve"],
      environment: props.environment,
      secrets: props.secrets,
      portMappings: [{ containerPort: API_PORT }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: "api" }),
      healthCheck: {
        command: ["CMD", "node", "/app/healthcheck.mjs"],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        startPeriod: Duration.seconds(60),
        retries: 3,
      },
      stopTimeout: Duration.seconds(120),
    });

    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, "LoadBalancerSecurityGroup", {
      vpc,
      description: "dualrs load balancer: HTTP(S) from the allowed clients",
      allowAllOutbound: false,
    });
    const lbSecurityGroup = this.loadBalancerSecurityGroup;
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(props.accessLogs, "load-balancer");

    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc,
      description: "dualrs API tasks: only the load balancer may connect",
    });
    this.securityGroup.addIngressRule(lbSecurityGroup, ec2.Port.tcp(API_PORT), "load balancer to the API");
    lbSecurityGroup.addEgressRule(this.securityGroup, ec2.Port.tcp(API_PORT), "load balancer to the API");

    this.service = new ecs.FargateService(this, "Service", {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      assignPublicIp: false,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(120),
    });

    this.targetGroup = new elbv2.ApplicationTargetGroup(this, "Targets", {
      vpc,
      port: API_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      // Long enough for `Prefer: wait` requests (up to 60 s) to finish on a draining task.
      deregistrationDelay: Duration.seconds(75),
      healthCheck: {
        path: "/readyz",
        healthyHttpCodes: "200",
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    this.listen(props, lbSecurityGroup);

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: props.minTasks,
      maxCapacity: props.maxTasks,
    });
    scaling.scaleOnRequestCount("Requests", {
      requestsPerTarget: props.requestsPerTask,
      targetGroup: this.targetGroup,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });
  }

  private listen(props: ApiServiceProps, lbSecurityGroup: ec2.SecurityGroup): void {
    const clients = ec2.Peer.ipv4(props.ingressCidr);
    lbSecurityGroup.addIngressRule(clients, ec2.Port.tcp(80), "HTTP from clients");
    if (props.certificateArn === undefined) {
      this.loadBalancer.addListener("Http", {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultTargetGroups: [this.targetGroup],
      });
      return;
    }
    lbSecurityGroup.addIngressRule(clients, ec2.Port.tcp(443), "HTTPS from clients");
    this.loadBalancer.addListener("Https", {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      open: false,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultTargetGroups: [this.targetGroup],
    });
    this.loadBalancer.addListener("Http", {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: "HTTPS", port: "443", permanent: true }),
    });
  }
}
