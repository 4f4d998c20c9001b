import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as elasticache from "aws-cdk-lib/aws-elasticache";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";

export interface QueueProps {
  vpc: ec2.IVpc;
  nodeType: string;
  replicas: number;
  port: number;
}

/**
 * The job queue's Redis (ElastiCache, Redis OSS 7): BullMQ needs `maxmemory-policy noeviction`,
 * since an evicted key is a lost job. TLS in transit, encryption at rest, an AUTH token from
 * Secrets Manager, a replica in another zone with automatic failover, daily snapshots. It sits in
 * isolated subnets, and its security group admits only the tasks (`allowFrom`).
 */
export class Queue extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** `{"password": ...}`: the AUTH token, injected into the tasks as REDIS_PASSWORD. */
  readonly authToken: secretsmanager.Secret;
  readonly host: string;
  readonly port: number;
  readonly replicationGroup: elasticache.CfnReplicationGroup;

  constructor(scope: Construct, id: string, props: QueueProps) {
    super(scope, id);
    this.port = props.port;
    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc: props.vpc,
      description: "Job queue (Redis): reachable only from the API and worker tasks",
      allowAllOutbound: false,
    });
    this.authToken = new secretsmanager.Secret(this, "AuthToken", {
      description: "AUTH token of the job queue's Redis",
      generateSecretString: {
        secretStringTemplate: "{}",
        generateStringKey: "password",
        // ElastiCache tokens allow only some punctuation; letters and digits also need no escaping in a URL.
        excludePunctuation: true,
        passwordLength: 64,
      },
    });
    const subnets = new elasticache.CfnSubnetGroup(this, "Subnets", {
      description: "Isolated subnets of the job queue",
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });
    const parameters = new elasticache.CfnParameterGroup(this, "Parameters", {
      cacheParameterGroupFamily: "redis7",
      description: "BullMQ: never evict keys",
      properties: { "maxmemory-policy": "noeviction" },
    });
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, "Redis", {
      replicationGroupDescription: "dualrs job queue",
      engine: "redis",
      engineVersion: "7.1",
      cacheNodeType: props.nodeType,
      numCacheClusters: props.replicas + 1,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: props.port,
      cacheParameterGroupName: parameters.ref,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      transitEncryptionMode: "required",
      atRestEncryptionEnabled: true,
      authToken: this.authToken.secretValueFromJson("password").unsafeUnwrap(),
      snapshotRetentionLimit: 15,
      autoMinorVersionUpgrade: true,
    });
    this.host = this.replicationGroup.attrPrimaryEndPointAddress;
  }

  /** Admits `peer` (a task security group) to the Redis port, and nothing else. */
  allowFrom(peer: ec2.ISecurityGroup): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(this.port), "tasks to the job queue");
  }
}
