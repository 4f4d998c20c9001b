import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";

/** Key prefix of the model store inside the bucket: MODEL_STORE is `s3://<bucket>/models`. */
export const MODELS_PREFIX = "models";

/**
 * The model bucket (versioned, encrypted, private, TLS only) and the bucket that receives the
 * access logs of it and of the load balancer. Both outlive the stack: models and access logs are
 * not thrown away by a teardown.
 */
export class Buckets extends Construct {
  readonly models: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.accessLogs = new s3.Bucket(this, "AccessLogs", {
      // Load balancer access logs need SSE-S3; KMS keys are not supported for them.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.models = new s3.Bucket(this, "Models", {
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: "models-bucket/",
      // Old versions of a re-pushed manifest are kept a while, to roll back a bad push.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
