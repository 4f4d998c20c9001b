import { Duration } from "aws-cdk-lib";
import * as appscaling from "aws-cdk-lib/aws-applicationautoscaling";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import type { GpuCapacity } from "./gpu-capacity.js";
import { DEPLOYMENT_DIMENSION, METRICS_NAMESPACE, QUEUE_BACKLOG } from "./metrics.js";
import { TaskRole } from "./task-role.js";

export interface WorkerServiceProps {
  cluster: ecs.Cluster;
  capacity: GpuCapacity;
  image: ecs.ContainerImage;
  environment: Record<string, string>;
  secrets: Record<string, ecs.Secret>;
  logGroup: logs.ILogGroup;
  models: s3.IBucket;
  cpu: number;
  memoryMiB: number;
  minWorkers: number;
  maxWorkers: number;
  /** Jobs per worker above which workers are added. */
  backlogPerWorker: number;
  deploymentName: string;
}

/**
 * `dualrs worker` tasks, one GPU each, on the GPU capacity provider. They take jobs from the queue
 * and accept no inbound connection. Their number follows the queue backlog per worker.
 */
export class WorkerService extends Construct {
  readonly service: ecs.Ec2Service;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly taskRole: TaskRole;
  /** Jobs waiting or running per running worker, the metric the workers scale on. */
  readonly backlogPerWorker: cloudwatch.MathExpression;

  constructor(scope: Construct, id: string, props: WorkerServiceProps) {
    super(scope, id);
    this.taskRole = new TaskRole(this, "TaskRole", {
      description: "dualrs worker tasks",
      models: props.models,
    });
    this.taskDefinition = new ecs.Ec2TaskDefinition(this, "Task", {
      networkMode: ecs.NetworkMode.AWS_VPC,
      taskRole: this.taskRole.role,
    });
    this.taskDefinition.addContainer("worker", {
      image: props.image,
      command: ["worker"],
      gpuCount: 1,
      cpu: props.cpu,
      memoryReservationMiB: props.memoryMiB,
      environment: props.environment,
      secrets: props.secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: "worker" }),
      // Time to finish or hand back the running job after SIGTERM (scale-in, deployments).
      stopTimeout: Duration.seconds(120),
    });
    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc: props.cluster.vpc,
      description: "dualrs workers: no inbound traffic",
    });
    this.service = new ecs.Ec2Service(this, "Service", {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minWorkers,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      capacityProviderStrategies: [
        { capacityProvider: props.capacity.capacityProvider.capacityProviderName, weight: 1 },
      ],
      circuitBreaker: { rollback: true },
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
    });
    this.backlogPerWorker = backlogPerWorker(props, this.service.serviceName);
    this.scaleOnBacklog(props);
  }

  /**
   * Step scaling on the backlog per worker: out fast when it passes the target, in slowly (one
   * worker at a time after 15 quiet minutes) when fewer than one job per two workers is left.
   */
  private scaleOnBacklog(props: WorkerServiceProps): void {
    const target = props.backlogPerWorker;
    const scaling = this.service.autoScaleTaskCount({
      minCapacity: props.minWorkers,
      maxCapacity: props.maxWorkers,
    });
    scaling.scaleOnMetric("BacklogOut", {
      metric: this.backlogPerWorker,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: target, change: 0 },
        { lower: target, change: +1 },
        { lower: 4 * target, change: +3 },
      ],
      evaluationPeriods: 2,
      cooldown: Duration.minutes(3),
    });
    scaling.scaleOnMetric("BacklogIn", {
      metric: this.backlogPerWorker,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 0.5, change: -1 },
        { lower: 0.5, change: 0 },
      ],
      evaluationPeriods: 15,
      cooldown: Duration.minutes(5),
    });
  }
}

/**
 * backlog / workers, from the service's QueueBacklog and Container Insights' RunningTaskCount.
 * With no worker running, any job counts as a full target's worth, so that the service scales
 * out from zero.
 */
function backlogPerWorker(props: WorkerServiceProps, serviceName: string): cloudwatch.MathExpression {
  const backlog = new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: QUEUE_BACKLOG,
    dimensionsMap: { [DEPLOYMENT_DIMENSION]: props.deploymentName },
    statistic: cloudwatch.Stats.MAXIMUM,
    period: Duration.minutes(1),
  });
  const workers = new cloudwatch.Metric({
    namespace: "ECS/ContainerInsights",
    metricName: "RunningTaskCount",
    dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: serviceName },
    statistic: cloudwatch.Stats.AVERAGE,
    period: Duration.minutes(1),
  });
  return new cloudwatch.MathExpression({
    label: "Jobs waiting or running per worker",
    expression: `IF(FILL(workers, 0) > 0, FILL(backlog, 0) / FILL(workers, 0), FILL(backlog, 0) * ${props.backlogPerWorker})`,
    usingMetrics: { backlog, workers },
    period: Duration.minutes(1),
  });
}
