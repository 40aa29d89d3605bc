/**
 * The AWS side of the command line: `deploy` (wraps `cdk deploy`, keeping the stack's outputs),
 * `submit` (starts a state-machine execution for an experiment), `status` (progress of an
 * execution and its Map runs) and `download` (a run's objects from S3 to a folder). Without AWS
 * credentials each fails at once, saying what to set.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DescribeExecutionCommand, DescribeMapRunCommand, ListMapRunsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn'
import * as E from 'fp-ts/lib/Either.js'
import { readExperiment } from '../../config/experiment.ts'
import { describe } from '../../pipeline/errors.ts'
import { runId } from '../../pipeline/keys.ts'
import { openStore, parseLocation } from '../../store/open.ts'
import type { Logger } from '../logger.ts'
import { Progress } from '../progress.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Where `deploy` keeps the stack's outputs (bucket, state machine ARN) for `submit`. */
export const OUTPUTS_FILE = join(root, '.bayesamp', 'outputs.json')

/**
 * Whether some AWS credentials source is configured: environment keys, a profile, web identity,
 * container credentials, or a shared config/credentials file. (Instance roles are not probed, to
 * fail at once rather than after metadata timeouts; set AWS_PROFILE or keys on such hosts, or
 * BAYESAMP_AWS_INSTANCE_ROLE=1.)
 */
export const credentialsProblem = (env: NodeJS.ProcessEnv = process.env, home = homedir()): string | undefined => {
  const has = (k: string) => (env[k] ?? '') !== ''
  if (has('AWS_ACCESS_KEY_ID') && has('AWS_SECRET_ACCESS_KEY')) return undefined
  if (has('AWS_PROFILE') || has('AWS_WEB_IDENTITY_TOKEN_FILE') || has('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI')) return undefined
  if (has('AWS_CONTAINER_CREDENTIALS_FULL_URI') || has('BAYESAMP_AWS_INSTANCE_ROLE')) return undefined
  if (existsSync(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'))) return undefined
  if (existsSync(env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'))) return undefined
  return 'no AWS credentials: set AWS_PROFILE (a profile in ~/.aws/config), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and AWS_REGION'
}

const requireCredentials = (what: string) => {
  const problem = credentialsProblem()
  if (problem !== undefined) throw new Error(`${what}: ${problem}`)
}

const region = (): string | undefined => process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION

/** The state machine to start: --state-machine, BAYESAMP_STATE_MACHINE_ARN, or the deploy outputs. */
export const stateMachineArn = (given?: string): string => {
  if (given !== undefined) return given
  if (process.env.BAYESAMP_STATE_MACHINE_ARN) return process.env.BAYESAMP_STATE_MACHINE_ARN
  if (existsSync(OUTPUTS_FILE)) {
    const outputs = JSON.parse(readFileSync(OUTPUTS_FILE, 'utf8')) as Record<string, Record<string, string>>
    for (const stack of Object.values(outputs)) if (stack.StateMachineArn) return stack.StateMachineArn
  }
  throw new Error(`submit: no state machine: run bayesamp deploy first, or pass --state-machine ARN (or set BAYESAMP_STATE_MACHINE_ARN)`)
}

export const deploy = async (args: readonly string[], log: Logger): Promise<void> => {
  requireCredentials('deploy')
  log.info(`cdk deploy (outputs → ${OUTPUTS_FILE})`)
  const code = await new Promise<number>((resolve) =>
    spawn(process.execPath, [join(root, 'node_modules', 'aws-cdk', 'bin', 'cdk'), 'deploy', '--outputs-file', OUTPUTS_FILE, ...args], { cwd: root, stdio: 'inherit' }).on(
      'exit',
      (c) => resolve(c ?? 1),
    ),
  )
  if (code !== 0) throw new Error(`deploy: cdk deploy exited with code ${code}`)
}

/** The AWS console page of an execution. */
export const consoleLink = (executionArn: string): string => {
  const r = executionArn.split(':')[3]
  return `https://${r}.console.aws.amazon.com/states/home?region=${r}#/v2/executions/details/${encodeURIComponent(executionArn)}`
}

export const submit = async (config: string, o: { name?: string; stateMachine?: string }, log: Logger): Promise<string> => {
  requireCredentials('submit')
  const x = await readExperiment(config)()
  if (E.isLeft(x)) throw new Error(describe(x.left))
  const run = runId(x.right, o.name)
  const sfn = new SFNClient({ region: region() })
  const out = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: stateMachineArn(o.stateMachine), name: `${run}-${Date.now()}`, input: JSON.stringify({ config: x.right, run }) }),
  )
  log.info(`run ${run}: execution started`)
  console.log(out.executionArn)
  console.log(consoleLink(out.executionArn!))
  return out.executionArn!
}

export const status = async (executionArn: string): Promise<void> => {
  requireCredentials('status')
  const sfn = new SFNClient({ region: region() })
  const ex = await sfn.send(new DescribeExecutionCommand({ executionArn }))
  console.log(`${ex.name}: ${ex.status} (started ${ex.startDate?.toISOString()}${ex.stopDate ? `, stopped ${ex.stopDate.toISOString()}` : ''})`)
  const runs = await sfn.send(new ListMapRunsCommand({ executionArn }))
  for (const m of runs.mapRuns ?? []) {
    const d = await sfn.send(new DescribeMapRunCommand({ mapRunArn: m.mapRunArn }))
    const c = d.itemCounts
    console.log(`  map run ${m.mapRunArn?.split('/').at(-1)}: ${d.status}; items ${c?.succeeded ?? 0} succeeded, ${c?.running ?? 0} running, ${c?.pending ?? 0} pending, ${c?.failed ?? 0} failed of ${c?.total ?? 0}`)
  }
  if (ex.error) console.log(`  error: ${ex.error}: ${ex.cause ?? ''}`)
}

export const download = async (uri: string, dir: string, log: Logger): Promise<number> => {
  const loc = parseLocation(uri)
  if (E.isLeft(loc) || loc.right.kind !== 's3') throw new Error(`download: expected s3://bucket/prefix, got '${uri}'`)
  if (process.env.BAYESAMP_S3_ENDPOINT === undefined) requireCredentials('download')
  const from = openStore(uri, process.env.BAYESAMP_S3_ENDPOINT ? { endpoint: process.env.BAYESAMP_S3_ENDPOINT, forcePathStyle: true } : {})
  const to = openStore(dir)
  if (E.isLeft(from)) throw new Error(describe(from.left))
  if (E.isLeft(to)) throw new Error(describe(to.left))
  const keys = await from.right.list('')()
  if (E.isLeft(keys)) throw new Error(describe(keys.left))
  const bar = new Progress('download', 'objects')
  let done = 0
  for (const k of keys.right) {
    const bytes = await from.right.get(k)()
    if (E.isLeft(bytes)) throw new Error(describe(bytes.left))
    const put = await to.right.put(k, bytes.right)()
    if (E.isLeft(put)) throw new Error(describe(put.left))
    bar.update(++done, keys.right.length)
  }
  bar.done()
  log.info(`downloaded ${done} object(s) from ${uri} to ${dir}`)
  return done
}
