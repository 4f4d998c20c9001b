import { Duration } from "aws-cdk-lib";
import * as autoscaling from "aws-cdk-lib/aws-autoscaling";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";

export interface GpuCapacityProps {
  cluster: ecs.Cluster;
  instanceType: string;
  maxInstances: number;
  notifications: sns.ITopic;
}

/**
 * GPU instances for the workers: an Auto Scaling group on the ECS GPU-optimized AMI (Amazon Linux
 * 2023, NVIDIA driver and container toolkit included), behind a capacity provider whose managed
 * scaling starts instances for pending worker tasks and stops idle ones, down to none.
 */
export class GpuCapacity extends Construct {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly capacityProvider: ecs.AsgCapacityProvider;

  constructor(scope: Construct, id: string, props: GpuCapacityProps) {
    super(scope, id);
    const { vpc } = props.cluster;
    const securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc,
      description: "GPU container instances: no inbound traffic; tasks have their own security groups",
    });
    const role = new iam.Role(this, "InstanceRole", {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description: "ECS container agent on the GPU instances",
      // Session Manager instead of SSH: no key pairs and no open port.
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonSSMManagedInstanceCore")],
    });
    const launchTemplate = new ec2.LaunchTemplate(this, "LaunchTemplate", {
      instanceType: new ec2.InstanceType(props.instanceType),
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
      userData: ec2.UserData.forLinux(),
      role,
      securityGroup,
      requireImdsv2: true,
      // Containers may not reach the instance's credentials through the metadata service.
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: "/dev/xvda",
          // The CUDA image is several GB; room for two versions of it during a deployment.
          volume: ec2.BlockDeviceVolume.ebs(100, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
          }),
        },
      ],
    });
    // The GPU AMI's agent reports the instance's GPUs so that tasks can reserve them; stated
    // here rather than relied upon.
    launchTemplate.userData?.addCommands("echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config");
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, "Group", {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      minCapacity: 0,
      maxCapacity: props.maxInstances,
      cooldown: Duration.minutes(5),
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(5) }),
      notifications: [{ topic: props.notifications, scalingEvents: autoscaling.ScalingEvents.ALL }],
      // The capacity provider decides which instances may stop: only those without tasks.
      newInstancesProtectedFromScaleIn: true,
    });
    this.capacityProvider = new ecs.AsgCapacityProvider(this, "CapacityProvider", {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
    });
    props.cluster.addAsgCapacityProvider(this.capacityProvider);
  }
}
