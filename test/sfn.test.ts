/**
 * The state machine that CDK synthesizes, executed by a local Amazon States Language interpreter
 * (aws-local-stepfunctions) against a real S3-protocol server on loopback: every Task of the
 * definition is bound to the code that runs it on AWS — the plan, generate and reduce Lambda
 * handlers called in-process, the ECS training task bound to the training container's `main` —
 * so the only parts not exercised are the AWS services themselves.
 *
 * On examples/smoke.json the execution writes the same report.json (the comparison of all groups
 * and each group's) as the local runner, byte for byte; a malformed config fails the execution
 * with the plan handler's ConfigError and writes nothing.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { App } from 'aws-cdk-lib'
import { StateMachine } from 'aws-local-stepfunctions'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

import { type AslDefinition, forLocalInterpreter, stateMachineDefinition, STATES, trainingEnvironment } from '../cdk/asl.ts'
import { TRAINING_CONTAINER } from '../cdk/constructs/training.ts'
import { BayesampStack } from '../cdk/stack.ts'
import { handler as generate } from '../functions/generate.ts'
import { handler as plan } from '../functions/plan.ts'
import { handler as reduce } from '../functions/reduce.ts'
import { main as train } from '../functions/train.ts'
import { installPromiseWithResolvers } from './cdk/local-interpreter.ts'
import { S3_CREDENTIALS, type S3Server, startS3Server } from './support/s3-server.ts'

// -------------------------------------------------------------------------------------
// fixtures
// -------------------------------------------------------------------------------------

const root = join(import.meta.dirname, '..')
const smoke = join(root, 'examples', 'smoke.json')
const smokeConfig = JSON.parse(readFileSync(smoke, 'utf8')) as Record<string, unknown>

/** The run bucket, and the stack's store prefix inside it (a non-empty one, to test that keys carry it). */
const BUCKET = 'bayesamp-sfn'
const PREFIX = 'team/bayesamp'

const dirs: string[] = []
const tempDir = (name: string): string => {
  const d = mkdtempSync(join(tmpdir(), `bayesamp-sfn-${name}-`))
  dirs.push(d)
  return d
}

let s3: S3Server
let client: S3Client
let definition: AslDefinition
const savedEnv: Record<string, string | undefined> = {}

/**
 * The environment the stack gives the functions and the training task (bucket and prefix), plus
 * what points the AWS SDK at the loopback server instead of AWS (endpoint, region, credentials).
 */
const environment = (endpoint: string): Record<string, string> => ({
  BAYESAMP_BUCKET: BUCKET,
  BAYESAMP_PREFIX: PREFIX,
  BAYESAMP_S3_ENDPOINT: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
})

beforeAll(async () => {
  installPromiseWithResolvers()
  s3 = await startS3Server([BUCKET])
  client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: S3_CREDENTIALS })
  for (const [k, v] of Object.entries(environment(s3.endpoint))) {
    savedEnv[k] = process.env[k]
    process.env[k] = v
  }
  // Synthesized as in test/cdk/stack.test.ts: no esbuild bundling, no asset staging, no schema
  // validation (cdk-nag's checks run there, not here).
  const app = new App({
    outdir: tempDir('cdk'),
    builtinCloudFormationValidation: false,
    context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-asset-staging': true },
  })
  const stack = new BayesampStack(app, 'Bayesamp', { storePrefix: PREFIX })
  definition = forLocalInterpreter(stateMachineDefinition(stack, { bucketName: BUCKET }))
}, 60_000)

afterAll(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  client?.destroy()
  await s3?.dispose()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** The text of `s3://BUCKET/<key>`. */
const s3Text = async (key: string): Promise<string> => {
  const obj = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
  return obj.Body!.transformToString()
}

/** Every key under `prefix` in the bucket (the smoke run has far fewer than one page). */
const s3Keys = async (prefix: string): Promise<string[]> =>
  ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!)

interface Calls {
  plan: unknown[]
  items: Array<{ Bucket: string; Key: string }>
  train: Array<Record<string, string>>
  generate: unknown[]
  reduce: unknown[]
}

/**
 * Every Task state of the definition bound to the code AWS would run for it. The ECS task mimics
 * the `.sync` integration: it resolves when the container's `main` finished, and a container that
 * failed makes the state fail with States.TaskFailed and the container's message as the cause.
 */
const localHandlers = (calls: Calls) => ({
  [STATES.plan]: (input: unknown) => {
    calls.plan.push(input)
    return plan(input)
  },
  [`${STATES.generate}Items`]: async (input: { Bucket: string; Key: string }) => {
    calls.items.push(input)
    return JSON.parse(await s3Text(input.Key)) as unknown
  },
  [STATES.trainJob]: async (input: unknown) => {
    const overrides = trainingEnvironment(input)
    calls.train.push(overrides)
    try {
      await train({ ...process.env, ...overrides })
    } catch (e) {
      throw Object.assign(new Error((e as Error).message), { name: 'States.TaskFailed' })
    }
    return { LastStatus: 'STOPPED', Containers: [{ Name: TRAINING_CONTAINER, ExitCode: 0 }] }
  },
  [STATES.generateShard]: (input: unknown) => {
    calls.generate.push(input)
    return generate(input)
  },
  [STATES.reduceGroup]: (input: unknown) => {
    calls.reduce.push(input)
    return reduce(input)
  },
  [STATES.report]: (input: unknown) => {
    calls.reduce.push(input)
    return reduce(input)
  },
})

/**
 * Runs the definition on `input`: its result (or the ExecutionFailed event of a failed run), the
 * handlers' calls, and the JSON log lines they printed (one per unit of work).
 */
const execute = async (input: unknown) => {
  const calls: Calls = { plan: [], items: [], train: [], generate: [], reduce: [] }
  const logs: Array<{ stage: string; outcome: string; error?: string }> = []
  const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(JSON.parse(String(line))))
  const machine = new StateMachine(definition as never)
  const execution = machine.run(input as never, {
    overrides: {
      // The handlers take the shapes this definition gives them, narrower than the package's JSONValue.
      taskResourceLocalHandlers: localHandlers(calls) as never,
      // A failed training is retried once after a minute on AWS; here at once.
      retryIntervalOverrides: { [STATES.trainJob]: 0 },
    },
  })
  const events: Array<Record<string, unknown>> = []
  const logged = (async () => {
    for await (const e of execution.eventLogs) events.push(e as unknown as Record<string, unknown>)
  })()
  const result = await execution.result
    .then(
      (output) => ({ ok: true as const, output: output as Record<string, unknown> }),
      (error: unknown) => ({ ok: false as const, error: error as Error }),
    )
    .finally(() => log.mockRestore())
  await logged
  const failed = events.find((e) => e.type === 'ExecutionFailed') as { Error: string; Cause: unknown } | undefined
  const count = (stage: string, outcome: string) => logs.filter((l) => l.stage === stage && l.outcome === outcome).length
  return { result, failed, calls, logs, logged: count }
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('the synthesized state machine, run locally against a loopback S3 server', () => {
  it('on examples/smoke.json writes the same report.json as the local runner', async () => {
    const { result, calls, logs, logged } = await execute({ config: smokeConfig, run: 'smoke' })
    if (!result.ok) throw result.error
    const run = `${PREFIX}/runs/smoke`

    // Every stage ran through its handler: 2 groups × 2 seeds trainings, 32 (sample, shard) items.
    expect(calls.items).toEqual([{ Bucket: BUCKET, Key: `${run}/plan/items.json` }])
    expect(calls.train.map((e) => `${e.GROUP}/${e.SEED}`).sort()).toEqual(['mcmc-s0.1/0', 'mcmc-s0.1/1', 'vib-k10/0', 'vib-k10/1'])
    expect(calls.train.every((e) => e.RUN === 'smoke')).toBe(true)
    expect(calls.generate).toHaveLength(32)
    expect(calls.reduce).toEqual([
      ...(result.output.groups as string[]).map((group) => ({ run: 'smoke', group })),
      { run: 'smoke' },
    ])
    expect(result.output).toMatchObject({ run: 'smoke', itemsKey: `${run}/plan/items.json`, report: { skipped: false } })
    // One log line per unit of work, each a success.
    expect([logged('plan', 'ok'), logged('train', 'ok'), logged('generate', 'ok'), logged('reduce', 'ok')]).toEqual([1, 4, 32, 3])
    expect(logs).toHaveLength(1 + 4 + 32 + 3)

    // The local runner on the same config, as a user runs it.
    const store = tempDir('local')
    await promisify(execFile)(process.execPath, ['bin/bayesamp.js', 'run', smoke, '--store', store, '--workers', '2'], {
      cwd: root,
    })
    const local = (key: string) => readFileSync(join(store, 'runs', 'smoke', key), 'utf8')
    const comparison = await s3Text(`${run}/report/report.json`)
    expect(comparison).toBe(local('report/report.json'))
    expect((JSON.parse(comparison) as { groups: Array<{ group: string }> }).groups.map((g) => g.group).sort()).toEqual([
      'mcmc-s0.1',
      'vib-k10',
    ])
    for (const group of ['mcmc-s0.1', 'vib-k10'])
      expect(await s3Text(`${run}/${group}/report.json`)).toBe(local(`${group}/report.json`))
  }, 80_000)

  it('a malformed config fails the execution with the plan handler’s ConfigError, and nothing is written', async () => {
    const { result, failed, calls, logs } = await execute({ config: { ...smokeConfig, seedz: 3 }, run: 'bad' })
    expect(result.ok).toBe(false)
    expect(logs).toMatchObject([{ stage: 'plan', outcome: 'failed', error: 'ConfigError' }])
    expect(failed?.Error).toBe('ConfigError')
    expect(String(failed?.Cause)).toMatch(/seedz: unknown field/)
    expect(calls.plan).toHaveLength(1)
    expect(calls.train).toEqual([])
    expect(calls.generate).toEqual([])
    expect(await s3Keys(`${PREFIX}/runs/bad/`)).toEqual([])
  })
})
