/**
 * The training container's main module (Dockerfile): one (group, seed) training of a run, its job
 * from the environment — `RUN`, `GROUP`, `SEED` (container overrides set by the state machine),
 * `BAYESAMP_BUCKET`, `BAYESAMP_PREFIX` (the stack), and optionally `BAYESAMP_TRAIN_THREADS` (threads per
 * batch, for a task with several vCPUs; 1 by default; the posterior does not depend on it). Exits 0 when the posterior is in the store
 * (trained now or before), otherwise with the error's exit code.
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { core } from '../shared/core/wasm.ts'
import { type PipelineError, exitCode, stageError, usageError } from '../shared/pipeline/errors.ts'
import { plan } from '../shared/pipeline/keys.ts'
import { type StageOutcome, trainStage } from '../shared/pipeline/stages.ts'
import { bucketStore, runStore, settle, storedExperiment } from './runtime.ts'

/** The job's coordinates from the environment. */
export const jobFromEnv = (env: NodeJS.ProcessEnv): E.Either<PipelineError, { run: string; group: string; seed: number }> => {
  const missing = ['RUN', 'GROUP', 'SEED'].filter((k) => env[k] === undefined || env[k] === '')
  if (missing.length > 0) return E.left(usageError(`training task: ${missing.join(', ')} not set (the state machine sets them as container overrides)`))
  const seed = Number(env.SEED)
  if (!Number.isSafeInteger(seed) || seed < 0) return E.left(usageError(`training task: SEED must be a non-negative integer, got '${env.SEED}'`))
  return E.right({ run: env.RUN!, group: env.GROUP!, seed })
}

/** Threads per batch from `BAYESAMP_TRAIN_THREADS` (1 when unset or empty). */
export const threadsFromEnv = (env: NodeJS.ProcessEnv): E.Either<PipelineError, number> => {
  const v = env.BAYESAMP_TRAIN_THREADS
  if (v === undefined || v === '') return E.right(1)
  const n = Number(v)
  return Number.isInteger(n) && n >= 1 && n <= 256
    ? E.right(n)
    : E.left(usageError(`training task: BAYESAMP_TRAIN_THREADS must be an integer from 1 to 256, got '${v}'`))
}

export const main = (env: NodeJS.ProcessEnv = process.env): Promise<StageOutcome> => {
  const job = jobFromEnv(env)
  return settle(
    'train',
    E.isRight(job) ? job.right : {},
    pipe(
      TE.Do,
      TE.bind('job', () => TE.fromEither(job)),
      TE.bindW('threads', () => TE.fromEither(threadsFromEnv(env))),
      TE.bindW('store', ({ job }) => TE.fromEither(E.flatMap(bucketStore(env), (s) => runStore(s, job.run)))),
      TE.bindW('x', ({ job, store }) => storedExperiment(store, job.run)),
      TE.flatMap(({ job, threads, store, x }) => {
        const j = plan(x, job.run).trainings.find((t) => t.group === job.group && t.seed === job.seed)
        return j === undefined
          ? TE.left(stageError('train', { ...job }, `run ${job.run} plans no training (${job.group}, seed ${job.seed})`))
          : trainStage(store, core(), x, job.run, j, undefined, { threads })
      }),
    ),
  )
}

// Run as the container's entry point (not when imported by a test).
if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (e: Error) => process.exit(exitCode({ _tag: e.name } as PipelineError) || 1),
  )
}
