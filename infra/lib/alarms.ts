import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import type * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { DEPLOYMENT_DIMENSION, JOBS_FAILED, METRICS_NAMESPACE, OLDEST_QUEUED_AGE } from "./metrics.js";

export interface AlarmsProps {
  topic: sns.ITopic;
  deploymentName: string;
  loadBalancer: elbv2.ApplicationLoadBalancer;
  targetGroup: elbv2.ApplicationTargetGroup;
}

/** Alarms to the operators' topic: failed jobs, jobs waiting too long, and 5xx answers. */
export class Alarms extends Construct {
  readonly failedJobs: cloudwatch.Alarm;
  readonly queueAge: cloudwatch.Alarm;
  readonly target5xx: cloudwatch.Alarm;
  readonly loadBalancer5xx: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const service = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [DEPLOYMENT_DIMENSION]: props.deploymentName },
        statistic,
        period: Duration.minutes(5),
      });
    this.failedJobs = new cloudwatch.Alarm(this, "FailedJobs", {
      alarmDescription: "dualrs: certification jobs failed in the last 5 minutes",
      metric: service(JOBS_FAILED, cloudwatch.Stats.SUM),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.queueAge = new cloudwatch.Alarm(this, "QueueAge", {
      alarmDescription: "dualrs: a job has waited more than 10 minutes for a worker",
      metric: service(OLDEST_QUEUED_AGE, cloudwatch.Stats.MAXIMUM),
      threshold: 600,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.target5xx = new cloudwatch.Alarm(this, "Api5xx", {
      alarmDescription: "dualrs: the API answered 5xx",
      metric: props.targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.loadBalancer5xx = new cloudwatch.Alarm(this, "LoadBalancer5xx", {
      alarmDescription: "dualrs: the load balancer answered 5xx (no healthy API task, timeouts)",
      metric: props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.failedJobs, this.queueAge, this.target5xx, this.loadBalancer5xx]) {
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
      alarm.addOkAction(new actions.SnsAction(props.topic));
    }
  }
}
