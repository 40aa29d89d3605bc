/**
 * The state machine of one experiment (Amazon States Language, JSONPath):
 *
 *   input  { "config": {…}, "run": "<name>" }
 *   Plan     Lambda `plan` → { run, trainingJobs: [{ group, seed }], itemsKey, groups: [group] }
 *   Train    Map over $.trainingJobs → TrainJob: ECS RunTask .sync (Fargate) with the container
 *            overrides RUN, GROUP, SEED
 *   Generate Distributed Map over the JSON array at s3://<bucket>/<itemsKey> (items
 *            { run, group, seed, sample, shard }) → GenerateShard: Lambda `generate` per item
 *   Reduce   Map over $.groups → ReduceGroup: Lambda `reduce` with { run, group }
 *   Report   Lambda `reduce` with { run } (no group): every group's report and the comparison
 *            of all groups at runs/<run>/report/ (a per-group reduce writes only its group's)
 *   output   the plan's output plus `reports`, the reduce results in the order of $.groups, and
 *            `report`, the whole-run reduce's result
 *
 * JSONPath, not JSONata: the local interpreter that executes this definition in the tests
 * (aws-local-stepfunctions 3) implements JSONPath only.
 *
 * Every stage is idempotent (its keys are a pure function of the config and its coordinates; a
 * finished output is skipped), so retries and redrives are safe. Lambda service errors are retried
 * with exponential backoff and full jitter; a Distributed Map tolerates no failed item; the maps
 * discard their iteration outputs (a state's output is limited to 256 KiB), and the Distributed
 * Map writes its run's manifest to `map-runs/` instead.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as iam from 'aws-cdk-lib/aws-iam'
import type * as lambda from 'aws-cdk-lib/aws-lambda'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import * as sfn from 'aws-cdk-lib/aws-stepfunctions'
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks'
import { Construct } from 'constructs'

import { ConstructValidationError } from './errors.ts'
import type { PipelineFunctions } from './functions.ts'
import type { TrainingTask } from './training.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** State names, for tests that bind local handlers to them and for `bayesamp status`. */
export const STATES = {
  plan: 'Plan',
  train: 'Train',
  trainJob: 'TrainJob',
  generate: 'Generate',
  generateShard: 'GenerateShard',
  reduce: 'Reduce',
  reduceGroup: 'ReduceGroup',
  report: 'Report',
} as const

/** Errors of the Lambda service (not of the handler) that a retry can cure. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
]

/** Errors of the ECS API when starting a task (throttling, capacity, transient server errors). */
export const ECS_START_ERRORS = ['ECS.AmazonECSException', 'ECS.ServerException']

/** Properties of {@link PipelineStateMachine}. */
export interface PipelineStateMachineProps {
  readonly functions: PipelineFunctions
  readonly training: TrainingTask
  /** The run bucket: the item list is read from it, the map-run manifests written to it. */
  readonly bucket: s3.IBucket
  /** Key pattern of the runs (the item lists live there), e.g. `runs/*`. */
  readonly runsPattern: string
  /** Prefix (no trailing `/`) of the Distributed Map's result manifests. */
  readonly mapResultsPrefix: string
  /**
   * Generate invocations running at once. Keep it under the account's Lambda concurrency (1000 by
   * default, less on new accounts) minus what other functions need.
   *
   * @default 200
   */
  readonly generateConcurrency?: number
  /**
   * Training tasks running at once (each one Fargate task; mind the account's Fargate vCPU quota).
   *
   * @default 10
   */
  readonly trainingConcurrency?: number
  /**
   * Limit on one execution.
   *
   * @default Duration.days(2)
   */
  readonly timeout?: Duration
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Plan → Train (ECS) → Generate (Distributed Map, Lambda) → Reduce → Report (Lambda), logged and traced. */
export class PipelineStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine
  readonly logGroup: logs.LogGroup

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    super(scope, id)
    const generateConcurrency = props.generateConcurrency ?? 200
    const trainingConcurrency = props.trainingConcurrency ?? 10
    for (const [name, value] of [
      ['generateConcurrency', generateConcurrency],
      ['trainingConcurrency', trainingConcurrency],
    ] as const)
      if (!Number.isInteger(value) || value < 1 || value > 10_000)
        throw new ConstructValidationError(this, `${name} must be an integer in [1, 10000], got ${value}`)
    const { functions, training } = props

    // Plan: the whole input goes to the function; its result is the state.
    const plan = invoke(this, STATES.plan, functions.plan, 'expand the config into training jobs and items')

    // Train: one Fargate task per job; the task's description is dropped (it is large and unused).
    const trainJob = new tasks.EcsRunTask(this, STATES.trainJob, {
      comment: 'train one (group, seed): posterior samples to runs/<run>/<group>/seed-<s>/posterior/',
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      cluster: training.cluster,
      taskDefinition: training.taskDefinition,
      launchTarget: new tasks.EcsFargateLaunchTarget({ platformVersion: ecs.FargatePlatformVersion.LATEST }),
      subnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [training.securityGroup],
      assignPublicIp: true,
      containerOverrides: [
        {
          containerDefinition: training.container,
          environment: [
            { name: 'RUN', value: sfn.JsonPath.stringAt('$.run') },
            { name: 'GROUP', value: sfn.JsonPath.stringAt('$.group') },
            // Environment values are strings; the seed is a number in the state.
            { name: 'SEED', value: sfn.JsonPath.format('{}', sfn.JsonPath.stringAt('$.seed')) },
          ],
        },
      ],
      resultPath: sfn.JsonPath.DISCARD,
    })
    trainJob.addRetry({
      errors: ECS_START_ERRORS,
      interval: Duration.seconds(10),
      maxAttempts: 5,
      backoffRate: 2,
      maxDelay: Duration.minutes(2),
      jitterStrategy: sfn.JitterType.FULL,
    })
    // A task that stops before its container runs (no Fargate capacity, ENI or image pull
    // timeouts) fails as States.TaskFailed, like a failed training: retry once. A finished
    // posterior is skipped on the rerun, so this costs at most one repeated training.
    trainJob.addRetry({ errors: ['States.TaskFailed'], interval: Duration.minutes(1), maxAttempts: 1 })
    const train = new sfn.Map(this, STATES.train, {
      comment: 'one training task per (group, seed)',
      itemsPath: sfn.JsonPath.stringAt('$.trainingJobs'),
      itemSelector: {
        run: sfn.JsonPath.stringAt('$.run'),
        group: sfn.JsonPath.stringAt('$$.Map.Item.Value.group'),
        seed: sfn.JsonPath.numberAt('$$.Map.Item.Value.seed'),
      },
      maxConcurrency: trainingConcurrency,
      resultPath: sfn.JsonPath.DISCARD,
    })
    train.itemProcessor(trainJob)

    // Generate: one child execution per item, read from the JSON array the plan wrote.
    const generateShard = invoke(this, STATES.generateShard, functions.generate, 'counts of one (sample, shard)', {
      resultPath: sfn.JsonPath.DISCARD,
    })
    const generate = new StrictDistributedMap(this, STATES.generate, {
      comment: 'one generate invocation per (group, seed, sample, shard) item',
      label: 'generate',
      itemReader: new ScopedJsonItemReader({
        bucket: props.bucket,
        key: sfn.JsonPath.stringAt('$.itemsKey'),
        objectsPattern: props.runsPattern,
      }),
      // Standard children: a shard may use the function's whole timeout (Express stops at 5 min).
      mapExecutionType: sfn.StateMachineType.STANDARD,
      maxConcurrency: generateConcurrency,
      resultWriterV2: new ScopedResultWriter({ bucket: props.bucket, prefix: props.mapResultsPrefix }),
      resultPath: sfn.JsonPath.DISCARD,
    })
    generate.itemProcessor(generateShard)

    // Reduce: one invocation per group.
    const reduceGroup = invoke(this, STATES.reduceGroup, functions.reduce, 'report of one group')
    const reduce = new sfn.Map(this, STATES.reduce, {
      comment: 'one reduce invocation per group',
      itemsPath: sfn.JsonPath.stringAt('$.groups'),
      itemSelector: {
        run: sfn.JsonPath.stringAt('$.run'),
        group: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
      },
      resultPath: '$.reports',
    })
    reduce.itemProcessor(reduceGroup)

    // Report: the comparison across groups needs every group's counts, so one whole-run reduce.
    const report = invoke(this, STATES.report, functions.reduce, 'comparison report of all groups', {
      payload: sfn.TaskInput.fromObject({ run: sfn.JsonPath.stringAt('$.run') }),
      resultPath: '$.report',
    })

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'bayesamp: plan, train (ECS), generate (Distributed Map over Lambda), reduce, report',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(train).next(generate).next(reduce).next(report)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.days(2),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    })
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * A Lambda task whose state resource is the function itself (its result is the handler's return
 * value), retried on Lambda service errors: 2 s, 4 s, 8 s, … with full jitter, at most 60 s apart,
 * 8 attempts (about 4 minutes in all, enough to ride out throttling under a wide Distributed Map).
 */
const invoke = (
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  comment: string,
  options: { readonly resultPath?: string; readonly payload?: sfn.TaskInput } = {},
): tasks.LambdaInvoke => {
  const task = new tasks.LambdaInvoke(scope, id, {
    comment,
    lambdaFunction: fn,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    ...options,
  })
  task.addRetry({
    errors: LAMBDA_SERVICE_ERRORS,
    interval: Duration.seconds(2),
    maxAttempts: 8,
    backoffRate: 2,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  })
  return task
}

/**
 * A Distributed Map that tolerates no failed item, and says so in the definition: CDK leaves a
 * tolerated failure of 0 out (it tests the number for truth), and the service's default happens
 * to be 0 too, but the contract is the definition's.
 */
class StrictDistributedMap extends sfn.DistributedMap {
  override toStateJson(): object {
    return { ...super.toStateJson(), ToleratedFailurePercentage: 0, ToleratedFailureCount: 0 }
  }
}

/** A JSON item reader whose permission covers only `objectsPattern`, not the whole bucket. */
class ScopedJsonItemReader extends sfn.S3JsonItemReader {
  private readonly objectsPattern: string

  constructor(props: sfn.S3FileItemReaderProps & { readonly objectsPattern: string }) {
    super(props)
    this.objectsPattern = props.objectsPattern
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(this.objectsPattern)],
      }),
    ]
  }
}

/** A result writer whose permissions cover only its prefix, not the whole bucket. */
class ScopedResultWriter extends sfn.ResultWriterV2 {
  private readonly scopedBucket: s3.IBucket
  private readonly scopedPrefix: string

  constructor(props: { readonly bucket: s3.IBucket; readonly prefix: string }) {
    super(props)
    this.scopedBucket = props.bucket
    this.scopedPrefix = props.prefix
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.scopedBucket.arnForObjects(`${this.scopedPrefix}/*`)],
      }),
    ]
  }
}
