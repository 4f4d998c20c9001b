import { Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import type { DualrsStack } from "./dualrs-stack.js";

/**
 * The AwsSolutions findings that were reviewed and accepted, each with its reason. Every other
 * finding fails synthesis. Acknowledgements name one finding on one construct, never a whole rule.
 */
export function suppressReviewedFindings(stack: DualrsStack): void {
  const accept = (scope: IConstruct, id: string, reason: string) =>
    Validations.of(scope).acknowledge({ id: `AwsSolutions-${id}`, reason });

  // Secrets without a rotation Lambda.
  accept(
    stack.secrets.apiKeys,
    "SMG4",
    "Holds hashes of API keys that clients own; they are rotated by adding a new hash, letting clients move, then removing the old one (docs/deploy.md), which no rotation Lambda can do.",
  );
  accept(
    stack.secrets.webhookSecret,
    "SMG4",
    "Webhook receivers must be given the new signing secret before it is used; rotation is an operator procedure (docs/deploy.md), not a schedule.",
  );
  accept(
    stack.queue.authToken,
    "SMG4",
    "Rotating an ElastiCache AUTH token is a replication-group update (ROTATE, then SET) coordinated with a task restart; it is documented in docs/deploy.md rather than run by a Lambda. The queue is also reachable only from the tasks' security groups, over TLS.",
  );

  // The GPU container instances.
  const instanceRole = stack.capacity.autoScalingGroup.role;
  accept(
    instanceRole,
    "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
    "Session Manager access to the GPU hosts (driver and agent diagnostics) instead of SSH: no key pairs and no inbound port. AWS maintains this policy for exactly that purpose.",
  );
  accept(
    instanceRole,
    "IAM5[Action::ecs:Submit*]",
    "Written by the CDK for the ECS container agent (ecs:SubmitContainerStateChange, ecs:SubmitTaskStateChange, ...), scoped to this cluster.",
  );
  accept(
    instanceRole,
    "IAM5[Resource::*]",
    "The ECS agent's ecs:DiscoverPollEndpoint, ecs:StartTelemetrySession and ecr:GetAuthorizationToken, and CloudWatch Logs for the agent, support no resource-level permissions.",
  );

  for (const [service, name] of [
    [stack.workers, "worker"],
    [stack.api, "API"],
  ] as const) {
    accept(
      service.taskRole.role,
      "IAM5[Resource::*]",
      `The ${name} publishes its queue metrics with cloudwatch:PutMetricData, which has no resource-level permissions; a condition limits it to the service's namespace.`,
    );
    accept(
      service.taskRole.role,
      "IAM5[Resource::<BucketsModels32F0CFE2.Arn>/models/*]",
      `The ${name} reads (s3:GetObject only) any manifest and model file under the model store's prefix; which ones exist is decided by whoever pushes models.`,
    );
    const executionRole = service.taskDefinition.executionRole;
    if (executionRole) {
      accept(
        executionRole,
        "IAM5[Resource::*]",
        "ecr:GetAuthorizationToken, used by ECS to pull the image, supports no resource-level permissions.",
      );
    }
    accept(
      service.taskDefinition,
      "ECS2",
      `Plain, non-secret settings of the ${name} (model store URL, queue host and port, providers, metric namespace); API keys, the webhook secret and the queue's AUTH token are Secrets Manager secrets injected by ECS.`,
    );
  }

  accept(
    stack.api.loadBalancerSecurityGroup,
    "EC23",
    "The load balancer is the public endpoint of the API: clients from the configured ingressCidr (default anywhere) reach it on 80/443. API keys guard every request, and the tasks behind it accept traffic only from it.",
  );
}
