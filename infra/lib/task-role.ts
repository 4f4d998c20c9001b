import * as iam from "aws-cdk-lib/aws-iam";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { MODELS_PREFIX } from "./buckets.js";
import { METRICS_NAMESPACE } from "./metrics.js";

export interface TaskRoleProps {
  description: string;
  models: s3.IBucket;
}

/**
 * A task's own role, least privilege: read the model store (list the bucket, get objects under
 * the models prefix) and publish metrics in the service's namespace. Nothing else; in particular
 * no write to the model bucket, which only `dualrs models push` with an operator's credentials does.
 */
export class TaskRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TaskRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: props.description,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "ListModels",
        actions: ["s3:ListBucket"],
        resources: [props.models.bucketArn],
        conditions: { StringLike: { "s3:prefix": [`${MODELS_PREFIX}/*`, `${MODELS_PREFIX}/`] } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "ReadModels",
        actions: ["s3:GetObject"],
        resources: [props.models.arnForObjects(`${MODELS_PREFIX}/*`)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PublishMetrics",
        actions: ["cloudwatch:PutMetricData"],
        // PutMetricData has no resource-level permissions; the namespace condition scopes it.
        resources: ["*"],
        conditions: { StringEquals: { "cloudwatch:namespace": METRICS_NAMESPACE } },
      }),
    );
  }
}
