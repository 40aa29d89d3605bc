/**
 * The bayesamp stack: the run bucket, the three Lambda functions, the Fargate training task and
 * the state machine that joins them. One stack per deployment; `bayesamp deploy` wraps `cdk deploy`.
 */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { CfnOutput, type Duration, Stack, type StackProps } from 'aws-cdk-lib'
import type { Construct } from 'constructs'

import { ConstructValidationError } from './constructs/errors.ts'
import { type FunctionSize, type HandlerEntries, PipelineFunctions } from './constructs/functions.ts'
import { PipelineStateMachine } from './constructs/pipeline.ts'
import { MAP_RESULTS_PREFIX, RunStorage } from './constructs/storage.ts'
import { TrainingTask } from './constructs/training.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** The repository root: the parent of this file's folder. */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The handlers' entry files, relative to the project root. */
export const DEFAULT_ENTRIES: HandlerEntries = {
  plan: 'functions/plan.ts',
  generate: 'functions/generate.ts',
  reduce: 'functions/reduce.ts',
}

/** Names of the stack's outputs (the CLI reads them to submit and follow executions). */
export const OUTPUTS = { bucket: 'BucketName', stateMachine: 'StateMachineArn' } as const

/** Properties of {@link BayesampStack}. */
export interface BayesampStackProps extends StackProps {
  /**
   * Repository root: build context of the training image, esbuild's working directory, home of
   * `package-lock.json` and `wasm/build/`.
   *
   * @default - the parent of cdk/ ({@link REPOSITORY_ROOT})
   */
  readonly projectRoot?: string
  /**
   * Entry files of the handlers, absolute or relative to {@link projectRoot}.
   *
   * @default - {@link DEFAULT_ENTRIES}: functions/plan.ts, functions/generate.ts, functions/reduce.ts
   */
  readonly entries?: Partial<HandlerEntries>
  /**
   * Prefix of the object store inside the bucket (`s3://<bucket>/<prefix>`): letters, digits,
   * `.`, `_`, `-`, segments joined by `/`, no leading or trailing `/`. Runs live under
   * `<prefix>/runs/`.
   *
   * @default '' - the bucket's root
   */
  readonly storePrefix?: string
  /** @default 200 - see {@link PipelineStateMachineProps.generateConcurrency} */
  readonly generateConcurrency?: number
  /** @default 10 - see {@link PipelineStateMachineProps.trainingConcurrency} */
  readonly trainingConcurrency?: number
  /** @default Duration.days(2) */
  readonly executionTimeout?: Duration
  /** @default - one vCPU, 5 minutes (cdk/constructs/functions.ts) */
  readonly generateSize?: FunctionSize
  /** @default - 4096 MiB, 15 minutes (cdk/constructs/functions.ts) */
  readonly reduceSize?: FunctionSize
  /** @default - 1024 MiB, 2 minutes (cdk/constructs/functions.ts) */
  readonly planSize?: FunctionSize
  /** @default 1024 - Fargate CPU units of one training task */
  readonly trainingCpu?: number
  /** @default 2048 - Fargate memory of one training task, MiB */
  readonly trainingMemoryMiB?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Bucket, functions, training task and state machine of bayesamp. */
export class BayesampStack extends Stack {
  readonly storage: RunStorage
  readonly functions: PipelineFunctions
  readonly training: TrainingTask
  readonly pipeline: PipelineStateMachine

  constructor(scope: Construct, id: string, props: BayesampStackProps = {}) {
    super(scope, id, props)
    // Behaviours this stack relies on, set here so that it does not depend on cdk.json:
    // access logs delivered through a bucket policy (the buckets enforce object ownership, no
    // ACLs), and the Distributed Map's ResultWriterV2.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true)
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true)

    const projectRoot = resolve(props.projectRoot ?? REPOSITORY_ROOT)
    const prefix = props.storePrefix ?? ''
    if (!/^(?:[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*)?$/.test(prefix))
      throw new ConstructValidationError(
        this,
        `storePrefix ${JSON.stringify(prefix)} is not a key prefix: use letters, digits, '.', '_', '-' ` +
          "in segments joined by '/', without a leading or trailing '/' (e.g. 'bayesamp' or 'team/bayesamp')",
      )
    const entries = { ...DEFAULT_ENTRIES, ...props.entries }
    const absoluteEntries: HandlerEntries = {
      plan: resolve(projectRoot, entries.plan),
      generate: resolve(projectRoot, entries.generate),
      reduce: resolve(projectRoot, entries.reduce),
    }

    this.storage = new RunStorage(this, 'Storage', { prefix })
    const { bucket, runsPattern } = this.storage
    this.functions = new PipelineFunctions(this, 'Functions', {
      projectRoot,
      entries: absoluteEntries,
      bucket,
      prefix,
      runsPattern,
      generateSize: props.generateSize,
      reduceSize: props.reduceSize,
      planSize: props.planSize,
    })
    this.training = new TrainingTask(this, 'Training', {
      dockerDirectory: projectRoot,
      bucket,
      prefix,
      runsPattern,
      cpu: props.trainingCpu,
      memoryMiB: props.trainingMemoryMiB,
    })
    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      functions: this.functions,
      training: this.training,
      bucket,
      runsPattern,
      mapResultsPrefix: MAP_RESULTS_PREFIX,
      generateConcurrency: props.generateConcurrency,
      trainingConcurrency: props.trainingConcurrency,
      timeout: props.executionTimeout,
    })

    new CfnOutput(this, OUTPUTS.bucket, { value: bucket.bucketName, description: 'the run bucket' })
    new CfnOutput(this, OUTPUTS.stateMachine, {
      value: this.pipeline.stateMachine.stateMachineArn,
      description: 'start one execution per experiment: { "config": {…}, "run": "<name>" }',
    })
  }
}
