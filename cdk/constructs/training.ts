/**
 * Training as an ECS Fargate task: the image is built from the repository's `Dockerfile` (the same
 * code as a local run), one task per (group, seed), started by the state machine with the job's
 * `RUN`, `GROUP` and `SEED` as container overrides. The network is a VPC with public subnets only
 * and no NAT gateway: tasks get a public address for ECR and CloudWatch Logs, accept no inbound
 * traffic, and reach S3 through a gateway endpoint.
 */
import { RemovalPolicy } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import { Platform } from 'aws-cdk-lib/aws-ecr-assets'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'

import { ConstructValidationError } from './errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Name of the training container: the state machine's overrides address it by this name. */
export const TRAINING_CONTAINER = 'train'

/** Properties of {@link TrainingTask}. */
export interface TrainingTaskProps {
  /** Directory with the `Dockerfile` (the repository root: the build context). */
  readonly dockerDirectory: string
  /** The run bucket; the task may read and write only {@link runsPattern} in it. */
  readonly bucket: s3.IBucket
  /** Store prefix inside the bucket ('' for the root), passed as `BAYESAMP_PREFIX`. */
  readonly prefix: string
  /** Key pattern the task may read and write, e.g. `runs/*`. */
  readonly runsPattern: string
  /**
   * Fargate CPU units (1024 = one vCPU). One training is one thread of the WASM core.
   *
   * @default 1024
   */
  readonly cpu?: number
  /**
   * Fargate memory, MiB: the training set and the posterior samples are megabytes.
   *
   * @default 2048
   */
  readonly memoryMiB?: number
  /**
   * Availability zones of the VPC.
   *
   * @default 2
   */
  readonly maxAzs?: number
}

/** Fargate's memory choices per CPU size: [min, max, step] MiB (256 CPU units left out: too slow to train). */
const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number, number]>> = {
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The Fargate cluster, task definition and network of the training jobs. */
export class TrainingTask extends Construct {
  readonly vpc: ec2.Vpc
  readonly cluster: ecs.Cluster
  readonly taskDefinition: ecs.FargateTaskDefinition
  readonly container: ecs.ContainerDefinition
  readonly securityGroup: ec2.SecurityGroup

  constructor(scope: Construct, id: string, props: TrainingTaskProps) {
    super(scope, id)
    const cpu = props.cpu ?? 1024
    const memoryMiB = props.memoryMiB ?? 2048
    const range = FARGATE_MEMORY[cpu]
    if (range === undefined)
      throw new ConstructValidationError(
        this,
        `cpu must be a Fargate CPU size (512, 1024, 2048, 4096, 8192 or 16384), got ${cpu}`,
      )
    const [lo, hi, step] = range
    if (memoryMiB < lo || memoryMiB > hi || (memoryMiB - lo) % step !== 0)
      throw new ConstructValidationError(
        this,
        `memoryMiB ${memoryMiB} is not valid with cpu ${cpu}: Fargate takes ${lo} to ${hi} MiB in steps of ${step}`,
      )

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      restrictDefaultSecurityGroup: true,
    })
    this.vpc.addFlowLog('FlowLogs', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    })
    this.securityGroup = new ec2.SecurityGroup(this, 'Tasks', {
      vpc: this.vpc,
      description: 'bayesamp training tasks: no inbound traffic; outbound HTTPS to ECR, CloudWatch Logs and S3',
      allowAllOutbound: false,
    })
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs')

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    })

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu,
      memoryLimitMiB: memoryMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    })
    this.container = this.taskDefinition.addContainer(TRAINING_CONTAINER, {
      containerName: TRAINING_CONTAINER,
      image: ecs.ContainerImage.fromAsset(props.dockerDirectory, { platform: Platform.LINUX_AMD64 }),
      // RUN, GROUP and SEED come from the state machine's container overrides.
      environment: { BAYESAMP_BUCKET: props.bucket.bucketName, BAYESAMP_PREFIX: props.prefix },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'train',
        logGroup: new logs.LogGroup(this, 'Logs', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      }),
      readonlyRootFilesystem: false,
    })
    props.bucket.grantRead(this.taskDefinition.taskRole, props.runsPattern)
    props.bucket.grantPut(this.taskDefinition.taskRole, props.runsPattern)
  }
}
