import { SecretValue } from "aws-cdk-lib";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";

export interface ServiceSecretsProps {
  /** The accepted API keys' sha256 hashes (hex), for a new secret; or */
  apiKeyHashes?: string[] | undefined;
  /** an existing secret holding them, comma-separated. */
  apiKeysSecretArn?: string | undefined;
}

/**
 * The service's secrets in Secrets Manager, injected into the containers by ECS at start (never
 * in the task definition): API_KEYS (hashes of the accepted keys) and WEBHOOK_SECRET (the
 * Standard Webhooks signing secret, random, created with the stack).
 */
export class ServiceSecrets extends Construct {
  readonly apiKeys: secretsmanager.ISecret;
  readonly webhookSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ServiceSecretsProps) {
    super(scope, id);
    this.apiKeys = props.apiKeysSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, "ApiKeys", props.apiKeysSecretArn)
      : new secretsmanager.Secret(this, "ApiKeys", {
          description: "sha256 hashes (hex, comma-separated) of the API keys that dualrs accepts",
          // Hashes, not keys: the keys themselves never reach AWS.
          secretStringValue: SecretValue.unsafePlainText((props.apiKeyHashes ?? []).join(",")),
        });
    this.webhookSecret = new secretsmanager.Secret(this, "WebhookSecret", {
      description: "Standard Webhooks signing secret of dualrs (base64; receivers use it as whsec_<value>)",
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    });
  }

  /** What the API containers get. */
  forApi(): Record<string, ecs.Secret> {
    return {
      API_KEYS: ecs.Secret.fromSecretsManager(this.apiKeys),
      WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(this.webhookSecret),
    };
  }

  /** What the workers get: they deliver webhooks, but never check API keys. */
  forWorker(): Record<string, ecs.Secret> {
    return { WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(this.webhookSecret) };
  }
}
