/**
 * The CDK app, synthesized in-process (no AWS account, no Docker): esbuild bundling is skipped
 * (`aws:cdk:bundling-stacks: []`), assets are not staged, and CDK's built-in CloudFormation schema
 * validation (seconds per synthesis, and only warnings by default) is off; cdk-nag's checks run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { App, Duration } from 'aws-cdk-lib'
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions'
import * as iam from 'aws-cdk-lib/aws-iam'
import { StateMachine } from 'aws-local-stepfunctions'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  type AslDefinition,
  type AslState,
  forLocalInterpreter,
  LOCAL_ARNS,
  LOCAL_NAMES,
  stateMachineDefinition,
  STATES,
  trainingEnvironment,
} from '../../cdk/asl.ts'
import {
  DESIGN_SHARD_POINTS,
  GENERATE_SIZE,
  LAMBDA_TASK_ROOT,
  lambdaBundling,
  ONE_VCPU_MIB,
  ORT_SHIM,
  POINTS_PER_VCPU_SECOND,
  WASM_FILES,
} from '../../cdk/constructs/functions.ts'
import { LAMBDA_SERVICE_ERRORS } from '../../cdk/constructs/pipeline.ts'
import { TRAINING_CONTAINER } from '../../cdk/constructs/training.ts'
import { applyNag, NAG_NAMESPACE } from '../../cdk/nag.ts'
import { BayesampStack, type BayesampStackProps, DEFAULT_ENTRIES, REPOSITORY_ROOT } from '../../cdk/stack.ts'
import { installPromiseWithResolvers } from './local-interpreter.ts'

// -------------------------------------------------------------------------------------
// fixtures
// -------------------------------------------------------------------------------------

// Bundling is skipped, so an entry is only checked to exist: until functions/*.ts land, the
// stack's own source stands in for them.
const HANDLERS_PRESENT = Object.values(DEFAULT_ENTRIES).every((e) => existsSync(join(REPOSITORY_ROOT, e)))
const ENTRIES = HANDLERS_PRESENT
  ? DEFAULT_ENTRIES
  : { plan: 'cdk/stack.ts', generate: 'cdk/stack.ts', reduce: 'cdk/stack.ts' }

const outdirs: string[] = []

/** A fresh app with one stack (and cdk-nag's checks unless `nag` is false). */
interface SynthOptions {
  /** Add cdk-nag's checks (default true). */
  readonly nag?: boolean
  /** Changes to the stack before the checks are added. */
  readonly extend?: (s: BayesampStack) => void
}

const synthesize = (props: BayesampStackProps = {}, options: SynthOptions = {}) => {
  const outdir = mkdtempSync(join(tmpdir(), 'bayesamp-cdk-'))
  outdirs.push(outdir)
  const app = new App({
    outdir,
    builtinCloudFormationValidation: false,
    context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true },
  })
  const stack = new BayesampStack(app, 'Bayesamp', { entries: ENTRIES, ...props })
  options.extend?.(stack)
  if (options.nag !== false) applyNag(app, stack)
  return { app, stack, outdir }
}

/** A CloudFormation value flattened to text: `<Id.Attr>` for Fn::GetAtt, `<Id>` for Ref and `${Id}` in Fn::Sub. */
const flat = (x: unknown): string => {
  if (typeof x === 'string') return x
  const o = x as Record<string, unknown>
  if (Array.isArray(o['Fn::Join'])) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]]
    return parts.map(flat).join(sep)
  }
  if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`
  if (typeof o.Ref === 'string') return `<${o.Ref}>`
  if (typeof o['Fn::Sub'] === 'string') return o['Fn::Sub'].replace(/\$\{([^}]+)\}/g, '<$1>')
  return JSON.stringify(x)
}

const list = <A>(x: A | A[]): A[] => (Array.isArray(x) ? x : [x])

interface Statement {
  readonly Effect: string
  readonly Action: string | string[]
  readonly Resource: unknown
}

/** Every IAM policy statement of the template, with the logical id of its policy. */
const statements = (template: Template): Array<{ policy: string; statement: Statement }> =>
  Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([policy, r]) =>
    (r.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({ policy, statement })),
  )

// Actions that support no resource-level permissions (or whose resource is only known at run
// time), so that `Resource: "*"` is the only form IAM accepts for them.
const RESOURCE_STAR_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'ecr:GetAuthorizationToken',
  'ecs:StopTask',
  'ecs:DescribeTasks',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
])

let main: ReturnType<typeof synthesize>
let template: Template
let definition: AslDefinition

beforeAll(() => {
  main = synthesize()
  template = Template.fromStack(main.stack)
  definition = stateMachineDefinition(main.stack)
})

afterAll(() => {
  for (const d of outdirs) rmSync(d, { recursive: true, force: true })
})

const id = (construct: { node: { defaultChild?: unknown } }): string =>
  main.stack.getLogicalId(construct.node.defaultChild as never)

// -------------------------------------------------------------------------------------
// storage
// -------------------------------------------------------------------------------------

describe('storage', () => {
  it('run bucket: private, TLS only, S3-managed encryption, versioned, access logs, retained', () => {
    const runs = id(main.stack.storage.bucket)
    const logs = id(main.stack.storage.logBucket)
    const buckets = template.findResources('AWS::S3::Bucket')
    expect(Object.keys(buckets).sort()).toEqual([logs, runs].sort())
    for (const name of [runs, logs])
      expect(buckets[name]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        },
      })
    expect(buckets[runs].Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: { Ref: logs } },
    })
  })

  it('both buckets deny requests without TLS', () => {
    for (const bucket of [main.stack.storage.bucket, main.stack.storage.logBucket])
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id(bucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      })
  })
})

// -------------------------------------------------------------------------------------
// functions
// -------------------------------------------------------------------------------------

describe('functions', () => {
  it.each([
    ['plan', 1024, 120],
    ['generate', ONE_VCPU_MIB, 300],
    ['reduce', 4096, 900],
  ] as const)('%s: Node.js 22, ESM bundle, %i MiB, %i s, store and WASM environment', (name, memory, timeout) => {
    const fn = main.stack.functions[name]
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.absent(),
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Architectures: ['x86_64'],
      MemorySize: memory,
      Timeout: timeout,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: {
          BAYESAMP_BUCKET: { Ref: id(main.stack.storage.bucket) },
          BAYESAMP_PREFIX: '',
          BAYESAMP_WASM_DIR: LAMBDA_TASK_ROOT,
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
      Role: { 'Fn::GetAtt': [main.stack.getLogicalId(fn.role!.node.defaultChild as never), 'Arn'] },
    })
  })

  it('generate: a shard of the design size fits the timeout three times over on one vCPU', () => {
    // One vCPU at the benchmark's 60 000 points/s: 2 000 000 points take 33.3 s.
    const seconds = DESIGN_SHARD_POINTS / POINTS_PER_VCPU_SECOND
    expect(seconds).toBeCloseTo(33.33, 1)
    expect(3 * seconds).toBeLessThan(GENERATE_SIZE.timeout.toSeconds())
    // Lambda's maximum is 15 minutes; the memory buys exactly one vCPU (the handler is single-threaded).
    expect(GENERATE_SIZE.timeout.toSeconds()).toBeLessThanOrEqual(Duration.minutes(15).toSeconds())
    expect(GENERATE_SIZE.memoryMiB).toBe(1769)
  })

  it('lambdaBundling: ESM for Node.js 22, SDK bundled, onnxruntime-node aliased to a file that exists', () => {
    const b = lambdaBundling(main.stack, REPOSITORY_ROOT, { wasm: true, nodeModules: [] })
    expect(b).toMatchObject({ format: 'esm', target: 'node22', bundleAwsSDK: true })
    expect(b.nodeModules).toBeUndefined()
    const alias = b.esbuildArgs?.['--alias']
    expect(alias).toBe(`onnxruntime-node=./${ORT_SHIM}`)
    expect(existsSync(join(REPOSITORY_ROOT, ORT_SHIM))).toBe(true)
    // The ES module defines `require` and `__dirname` for the CommonJS code esbuild wraps into it.
    expect(b.banner).toMatch(/const require = /)
    expect(b.banner).toMatch(/const __dirname = /)
  })

  it('lambdaBundling: copies both WASM builds beside the bundle after esbuild', () => {
    const hooks = lambdaBundling(main.stack, REPOSITORY_ROOT, { wasm: true, nodeModules: [] }).commandHooks!
    const missing = WASM_FILES.filter((f) => !existsSync(join(REPOSITORY_ROOT, 'wasm', 'build', f)))
    expect(missing, 'run npm run build before the tests').toEqual([])
    expect(hooks.afterBundling('/asset-input', '/asset-output')).toEqual([
      'cp "/asset-input/wasm/build/core.simd.wasm" "/asset-output/core.simd.wasm"',
      'cp "/asset-input/wasm/build/core.relaxed.wasm" "/asset-output/core.relaxed.wasm"',
    ])
    const plain = lambdaBundling(main.stack, REPOSITORY_ROOT, { wasm: false, nodeModules: [] }).commandHooks!
    expect(plain.afterBundling('/in', '/out')).toEqual([])
  })

  it('lambdaBundling: a missing WASM build stops the synthesis with what to run', () => {
    const empty = mkdtempSync(join(tmpdir(), 'bayesamp-nowasm-'))
    outdirs.push(empty)
    const hooks = lambdaBundling(main.stack, empty, { wasm: true, nodeModules: [] }).commandHooks!
    expect(() => hooks.afterBundling('/in', '/out')).toThrow(/wasm\/build\/core\.simd\.wasm.*run `npm run build`/)
  })

  it('the onnxruntime-node stand-in imports, and refuses use with the reason', async () => {
    const ort = await import('../../cdk/lambda/onnxruntime-node.ts')
    // shared/model/ort.ts uses exactly these two names.
    expect(typeof ort.InferenceSession.create).toBe('function')
    expect(typeof ort.Tensor).toBe('function')
    await expect(ort.InferenceSession.create()).rejects.toThrow(/only vector fields of the MLP family/)
    expect(() => new ort.Tensor()).toThrow(/not part of the Lambda bundle/)
  })
})

// -------------------------------------------------------------------------------------
// training
// -------------------------------------------------------------------------------------

describe('training', () => {
  it('Fargate task: 1 vCPU, 2 GiB, Linux x86-64, the container from the repository Dockerfile', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '1024',
      Memory: '2048',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Name: TRAINING_CONTAINER,
          Environment: Match.arrayWith([
            { Name: 'BAYESAMP_BUCKET', Value: { Ref: id(main.stack.storage.bucket) } },
            { Name: 'BAYESAMP_PREFIX', Value: '' },
          ]),
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Image: Match.objectLike({ 'Fn::Sub': Match.stringLikeRegexp('container-assets') }),
        }),
      ],
    })
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    })
  })

  it('Dockerfile: node 22, npm ci, npm run build, runs functions/train.ts; .dockerignore keeps builds out', () => {
    const docker = readFileSync(join(REPOSITORY_ROOT, 'Dockerfile'), 'utf8')
    expect(docker).toMatch(/^FROM node:22/m)
    expect(docker).toMatch(/^RUN npm ci/m)
    expect(docker).toMatch(/^RUN npm run build$/m)
    expect(docker).toMatch(/^CMD \["node", "--import", "tsx", "functions\/train\.ts"\]$/m)
    const ignored = readFileSync(join(REPOSITORY_ROOT, '.dockerignore'), 'utf8').split('\n')
    for (const p of ['node_modules', 'wasm/build', 'cdk.out', '.git']) expect(ignored).toContain(p)
  })

  it('tasks accept no inbound traffic and send only HTTPS', () => {
    const sg = template.findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: Match.stringLikeRegexp('training tasks') },
    })
    const [props] = Object.values(sg).map((r) => r.Properties)
    expect(props.SecurityGroupIngress).toBeUndefined()
    expect(props.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
    ])
    template.resourceCountIs('AWS::EC2::NatGateway', 0)
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' })
  })

  it('rejects a CPU and memory pair Fargate does not offer', () => {
    expect(() => synthesize({ trainingCpu: 1024, trainingMemoryMiB: 1024 }, { nag: false })).toThrow(
      /memoryMiB 1024 is not valid with cpu 1024: Fargate takes 2048 to 8192 MiB/,
    )
    expect(() => synthesize({ trainingCpu: 3000 }, { nag: false })).toThrow(/cpu must be a Fargate CPU size/)
  })
})

// -------------------------------------------------------------------------------------
// state machine
// -------------------------------------------------------------------------------------

describe('state machine', () => {
  const state = (name: string, states: Record<string, AslState> = definition.States): AslState => {
    for (const [n, s] of Object.entries(states)) {
      if (n === name) return s
      const inner = (s.ItemProcessor as { States?: Record<string, AslState> } | undefined)?.States
      if (inner !== undefined) {
        try {
          return state(name, inner)
        } catch {
          // not in this map
        }
      }
    }
    throw new Error(`no state ${name}`)
  }

  it('Plan → Train → Generate → Reduce → Report, JSONPath, logged and traced', () => {
    expect(definition.StartAt).toBe(STATES.plan)
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath')
    expect(state(STATES.plan).Next).toBe(STATES.train)
    expect(state(STATES.train).Next).toBe(STATES.generate)
    expect(state(STATES.generate).Next).toBe(STATES.reduce)
    expect(state(STATES.reduce).Next).toBe(STATES.report)
    expect(state(STATES.report).End).toBe(true)
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    })
  })

  it('Plan, GenerateShard and ReduceGroup invoke their functions directly', () => {
    expect(state(STATES.plan)).toMatchObject({ Type: 'Task', Resource: LOCAL_ARNS.plan })
    expect(state(STATES.generateShard)).toMatchObject({ Type: 'Task', Resource: LOCAL_ARNS.generate, ResultPath: null })
    expect(state(STATES.reduceGroup)).toMatchObject({ Type: 'Task', Resource: LOCAL_ARNS.reduce })
  })

  it('Report: one whole-run reduce (the run, no group) after the per-group reduces', () => {
    expect(state(STATES.report)).toMatchObject({
      Type: 'Task',
      Resource: LOCAL_ARNS.reduce,
      Parameters: { 'run.$': '$.run' },
      ResultPath: '$.report',
    })
    expect(Object.keys(state(STATES.report).Parameters as object)).toEqual(['run.$'])
  })

  it('Train: a Map over the training jobs running ECS RunTask .sync with RUN, GROUP, SEED overrides', () => {
    expect(state(STATES.train)).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.trainingJobs',
      ItemSelector: { 'run.$': '$.run', 'group.$': '$$.Map.Item.Value.group', 'seed.$': '$$.Map.Item.Value.seed' },
      MaxConcurrency: 10,
      ResultPath: null,
    })
    expect(state(STATES.trainJob)).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      ResultPath: null,
      Parameters: {
        Cluster: LOCAL_ARNS.cluster,
        LaunchType: 'FARGATE',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            AssignPublicIp: 'ENABLED',
            SecurityGroups: [LOCAL_NAMES.securityGroup],
            Subnets: [`${LOCAL_NAMES.subnetPrefix}0`, `${LOCAL_NAMES.subnetPrefix}1`],
          },
        },
        Overrides: {
          ContainerOverrides: [
            {
              Name: TRAINING_CONTAINER,
              Environment: [
                { Name: 'RUN', 'Value.$': '$.run' },
                { Name: 'GROUP', 'Value.$': '$.group' },
                { Name: 'SEED', 'Value.$': "States.Format('{}', $.seed)" },
              ],
            },
          ],
        },
      },
    })
  })

  it('Generate: a Distributed Map reading the JSON item list at $.itemsKey, no failure tolerated', () => {
    expect(state(STATES.generate)).toMatchObject({
      Type: 'Map',
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: LOCAL_NAMES.bucket, 'Key.$': '$.itemsKey' },
      },
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: LOCAL_NAMES.bucket, Prefix: 'map-runs' },
      },
      MaxConcurrency: 200,
      ToleratedFailurePercentage: 0,
      ToleratedFailureCount: 0,
      ResultPath: null,
    })
  })

  it('Reduce: a Map over $.groups giving each invocation { run, group }', () => {
    expect(state(STATES.reduce)).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.groups',
      ItemSelector: { 'run.$': '$.run', 'group.$': '$$.Map.Item.Value' },
      ResultPath: '$.reports',
    })
  })

  it.each([STATES.plan, STATES.generateShard, STATES.reduceGroup])(
    '%s retries Lambda service errors with exponential backoff and jitter',
    (name) => {
      const retry = state(name).Retry as Array<Record<string, unknown>>
      expect(retry).toContainEqual({
        ErrorEquals: LAMBDA_SERVICE_ERRORS,
        IntervalSeconds: 2,
        MaxAttempts: 8,
        BackoffRate: 2,
        MaxDelaySeconds: 60,
        JitterStrategy: 'FULL',
      })
      expect(LAMBDA_SERVICE_ERRORS).toEqual([
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
      ])
    },
  )

  it('TrainJob retries ECS start errors with backoff, and a stopped task once', () => {
    const retry = state(STATES.trainJob).Retry as Array<Record<string, unknown>>
    expect(retry[0]).toMatchObject({ ErrorEquals: ['ECS.AmazonECSException', 'ECS.ServerException'], BackoffRate: 2 })
    expect(retry[1]).toMatchObject({ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 1 })
  })

  it('concurrency and timeout are properties; bad values are refused by name', () => {
    const other = synthesize({ generateConcurrency: 50, trainingConcurrency: 3 }, { nag: false })
    const d = stateMachineDefinition(other.stack)
    expect(d.States[STATES.generate].MaxConcurrency).toBe(50)
    expect(d.States[STATES.train].MaxConcurrency).toBe(3)
    expect(() => synthesize({ generateConcurrency: 0 }, { nag: false })).toThrow(
      /generateConcurrency must be an integer in \[1, 10000\], got 0/,
    )
  })
})

// -------------------------------------------------------------------------------------
// IAM
// -------------------------------------------------------------------------------------

describe('IAM', () => {
  it('no statement allows every action of a service, and none allows anything on "*" beyond the listed actions', () => {
    const all = statements(template).filter((s) => s.statement.Effect === 'Allow')
    expect(all.length).toBeGreaterThan(10)
    for (const { policy, statement } of all) {
      const actions = list(statement.Action)
      for (const a of actions) expect(a, `${policy}: ${a}`).not.toMatch(/^\*$|:\*$/)
      if (list(statement.Resource).includes('*'))
        for (const a of actions) expect(RESOURCE_STAR_ACTIONS.has(a), `${policy}: ${a} on *`).toBe(true)
    }
  })

  it('S3 access is limited to runs/* (and the map results to the state machine), nothing deletes', () => {
    const bucket = `<${id(main.stack.storage.bucket)}.Arn>`
    const smPolicy = main.stack.getLogicalId(
      main.stack.pipeline.stateMachine.role.node.findChild('DefaultPolicy').node.defaultChild as never,
    )
    let seen = 0
    for (const { policy, statement } of statements(template)) {
      const s3 = list(statement.Action).filter((a) => a.startsWith('s3:'))
      if (s3.length === 0) continue
      seen++
      for (const a of s3) expect(a, policy).not.toMatch(/^s3:Delete/)
      for (const r of list(statement.Resource).map(flat)) {
        if (r === bucket) continue // bucket-level reads (List*, GetBucket*)
        if (r === `${bucket}/map-runs/*`) expect(policy, 'map results').toBe(smPolicy)
        else expect(r, policy).toBe(`${bucket}/runs/*`)
      }
    }
    // Functions (3), training task role, state machine role.
    expect(seen).toBeGreaterThanOrEqual(5)
  })

  it('a store prefix narrows every grant to <prefix>/runs/*', () => {
    const other = synthesize({ storePrefix: 'team/bayesamp' }, { nag: false })
    const t = Template.fromStack(other.stack)
    const s3 = statements(t).filter((s) => list(s.statement.Action).some((a) => a.startsWith('s3:')))
    const objects = s3.flatMap((s) => list(s.statement.Resource).map(flat)).filter((r) => r.endsWith('*'))
    expect(objects.length).toBeGreaterThan(0)
    for (const r of objects) expect(r).toMatch(/\/(team\/bayesamp\/runs|map-runs)\/\*$/)
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ BAYESAMP_PREFIX: 'team/bayesamp' }) },
    })
    expect(() => synthesize({ storePrefix: '/runs/' }, { nag: false })).toThrow(
      /storePrefix "\/runs\/" is not a key prefix/,
    )
  })

  it('roles carry no AWS managed policy but the Lambda basic execution role', () => {
    for (const [name, role] of Object.entries(template.findResources('AWS::IAM::Role')))
      for (const arn of (role.Properties.ManagedPolicyArns ?? []).map(flat))
        expect(arn, name).toMatch(/:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/)
  })
})

// -------------------------------------------------------------------------------------
// cdk-nag
// -------------------------------------------------------------------------------------

describe('cdk-nag', () => {
  it('AwsSolutions reports no finding that is not acknowledged, and every acknowledgment has a reason', () => {
    expect(Annotations.fromStack(main.stack).findError('*', Match.anyValue())).toEqual([])
    const report = JSON.parse(readFileSync(join(main.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{
        pluginName: string
        conclusion: string
        violations: unknown[]
        suppressedViolations?: Array<{ ruleName: string; reason?: string }>
      }>
    }
    const nag = report.pluginReports.find((p) => p.pluginName === NAG_NAMESPACE)
    expect(nag).toBeDefined()
    expect(nag!.violations).toEqual([])
    expect(nag!.conclusion).toBe('success')
    const acknowledged = nag!.suppressedViolations ?? []
    expect(acknowledged.length).toBeGreaterThan(0)
    for (const a of acknowledged) expect(a.reason?.length ?? 0, a.ruleName).toBeGreaterThan(20)
  })

  it('a wildcard nobody acknowledged fails the synthesis', () => {
    const bad = synthesize(
      {},
      {
        extend: (s) =>
          s.functions.generate.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] })),
      },
    )
    expect(() => bad.app.synth()).toThrow(/AwsSolutions-IAM5\[Action::s3:\*\]/)
  })
})

// -------------------------------------------------------------------------------------
// the definition outside AWS
// -------------------------------------------------------------------------------------

describe('stateMachineDefinition', () => {
  it('leaves no CloudFormation reference in the definition', () => {
    const text = JSON.stringify(definition)
    expect(text).not.toMatch(/Fn::|"Ref"|\$\{Token/)
    expect(text).toContain(LOCAL_ARNS.plan)
  })

  it('is valid Amazon States Language as it is, and after forLocalInterpreter', () => {
    expect(() => new StateMachine(definition as never)).not.toThrow()
    expect(() => new StateMachine(forLocalInterpreter(definition) as never)).not.toThrow()
  })

  it('forLocalInterpreter: a Task reads the items, then the map iterates over $.items', () => {
    const local = forLocalInterpreter(definition)
    const items = `${STATES.generate}Items`
    expect(local.States[STATES.train].Next).toBe(items)
    expect(local.States[items]).toMatchObject({
      Type: 'Task',
      Resource: LOCAL_ARNS.readItems,
      Parameters: { Bucket: LOCAL_NAMES.bucket, 'Key.$': '$.itemsKey' },
      ResultPath: '$.items',
      Next: STATES.generate,
    })
    expect(local.States[STATES.generate].ItemReader).toBeUndefined()
    expect(local.States[STATES.generate].ItemsPath).toBe('$.items')
    // The input is not modified.
    expect(definition.States[STATES.generate].ItemReader).toBeDefined()
  })

  it('runs in aws-local-stepfunctions: one training per job, one generate per item, one reduce per group, one report', async () => {
    installPromiseWithResolvers()
    const run = 'r-1'
    const jobs = [
      { group: 'vib-k5', seed: 0 },
      { group: 'vib-k5', seed: 1 },
      { group: 'mcmc-s0.1', seed: 0 },
    ]
    const items = jobs.flatMap(({ group, seed }) =>
      [0, 1].flatMap((sample) => [0, 1, 2].map((shard) => ({ run, group, seed, sample, shard }))),
    )
    const objects = new Map<string, unknown>([[`runs/${run}/items.json`, items]])
    const trained: Array<Record<string, string>> = []
    const generated: unknown[] = []
    const reduced: unknown[] = []
    const reported: unknown[] = []
    let throttled = 0
    const handlers = {
      [STATES.plan]: async (input: unknown) => {
        expect(input).toEqual({ config: { name: 'smoke' }, run })
        return { run, trainingJobs: jobs, itemsKey: `runs/${run}/items.json`, groups: ['vib-k5', 'mcmc-s0.1'] }
      },
      [`${STATES.generate}Items`]: async (input: { Bucket: string; Key: string }) => {
        expect(input.Bucket).toBe(LOCAL_NAMES.bucket)
        return objects.get(input.Key)
      },
      [STATES.trainJob]: async (input: unknown) => {
        trained.push(trainingEnvironment(input))
        return { Tasks: [{ LastStatus: 'STOPPED' }] }
      },
      [STATES.generateShard]: async (item: unknown) => {
        // The first invocation is throttled: the retrier must absorb it.
        if (throttled++ === 0)
          throw Object.assign(new Error('Rate exceeded'), { name: 'Lambda.TooManyRequestsException' })
        generated.push(item)
        return { counts: 'written' }
      },
      [STATES.reduceGroup]: async (input: { run: string; group: string }) => {
        reduced.push(input)
        return { report: `runs/${input.run}/${input.group}/report.json` }
      },
      [STATES.report]: async (input: unknown) => {
        reported.push(input)
        return { report: `runs/${run}/report/report.json` }
      },
    }
    const machine = new StateMachine(forLocalInterpreter(definition) as never)
    const output = (await machine.run(
      { config: { name: 'smoke' }, run },
      // The handlers take the shapes this definition gives them, narrower than the package's JSONValue.
      {
        overrides: {
          taskResourceLocalHandlers: handlers as never,
          retryIntervalOverrides: { [STATES.generateShard]: 0 },
        },
      },
    ).result) as Record<string, unknown>

    const key = (o: Record<string, unknown>) => JSON.stringify(o)
    expect(trained.map(key).sort()).toEqual(
      jobs.map(({ group, seed }) => key({ RUN: run, GROUP: group, SEED: String(seed) })).sort(),
    )
    expect(generated.map((g) => key(g as Record<string, unknown>)).sort()).toEqual(items.map(key).sort())
    expect(throttled).toBe(items.length + 1)
    expect(reduced).toEqual([
      { run, group: 'vib-k5' },
      { run, group: 'mcmc-s0.1' },
    ])
    expect(output).toMatchObject({
      run,
      itemsKey: `runs/${run}/items.json`,
      reports: [{ report: `runs/${run}/vib-k5/report.json` }, { report: `runs/${run}/mcmc-s0.1/report.json` }],
      report: { report: `runs/${run}/report/report.json` },
    })
    expect(reported).toEqual([{ run }])
  })

  it('runs in aws-local-stepfunctions: a handler error (not a service error) fails the execution', async () => {
    installPromiseWithResolvers()
    let calls = 0
    const machine = new StateMachine(forLocalInterpreter(definition) as never)
    const execution = machine.run(
      { config: {}, run: 'r-2' },
      {
        overrides: {
          taskResourceLocalHandlers: {
            [STATES.plan]: async () => ({ run: 'r-2', trainingJobs: [], itemsKey: 'runs/r-2/items.json', groups: [] }),
            [`${STATES.generate}Items`]: async () => [{ run: 'r-2', group: 'g', seed: 0, sample: 0, shard: 0 }],
            [STATES.generateShard]: async () => {
              calls++
              throw Object.assign(new Error('counts object truncated'), { name: 'CountsError' })
            },
          },
        },
      },
    )
    await expect(execution.result).rejects.toThrow(/counts object truncated/)
    expect(calls).toBe(1)
  })
})
