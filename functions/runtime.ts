/**
 * What every AWS entry point shares: the run's store (S3, from the environment, restricted to the
 * run's prefix), event decoding with io-ts, one JSON log line per unit of work, and the one place
 * where a pipeline error becomes a Lambda failure (or a container's exit code).
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import { type PipelineError, describe, exitCode, invalidKey, usageError } from '../shared/pipeline/errors.ts'
import { runPrefix } from '../shared/pipeline/keys.ts'
import { s3Store } from '../shared/store/s3.ts'
import { scopedStore } from '../shared/store/scoped.ts'
import type { ObjectStore } from '../shared/store/store.ts'
import { envStoreOptions } from '../shared/store/open.ts'

/** The bucket and prefix the stack gives every function and task. */
export const bucketStore = (env: NodeJS.ProcessEnv = process.env): E.Either<PipelineError, ObjectStore> => {
  const bucket = env.BAYESAMP_BUCKET
  if (bucket === undefined || bucket === '') return E.left(usageError('BAYESAMP_BUCKET is not set: the stack sets it to the run bucket'))
  return s3Store({ bucket, prefix: env.BAYESAMP_PREFIX ?? '', ...envStoreOptions(env) })
}

/** The store seen through the run's prefix: a key outside `runs/<run>/` is refused. */
export const runStore = (store: ObjectStore, run: string): E.Either<PipelineError, ObjectStore> =>
  pipe(
    E.tryCatch(
      () => runPrefix(run),
      (e) => invalidKey(`runs/${run}`, e instanceof Error ? e.message : String(e)),
    ),
    E.flatMap((prefix) => scopedStore(store, prefix)),
  )

/** Decodes an event, naming every path that does not fit. */
export const decodeEvent = <A>(codec: t.Decoder<unknown, A>, event: unknown, what: string): E.Either<PipelineError, A> =>
  pipe(
    codec.decode(event),
    E.mapLeft((errors) => usageError(`${what}: invalid event: ${PathReporter.report(E.left(errors)).join('; ')}`)),
  )

export { storedExperiment } from '../shared/pipeline/stages.ts'

/** One log line per unit of work, for CloudWatch Logs Insights. */
export const logUnit = (stage: string, coordinates: Record<string, unknown>, started: number, outcome: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ stage, ...coordinates, seconds: +((performance.now() - started) / 1000).toFixed(3), outcome, ...extra }))

/** Runs a stage; its error becomes a thrown Error — a failed invocation that Step Functions sees. */
export const settle = async <A>(stage: string, coordinates: Record<string, unknown>, work: TE.TaskEither<PipelineError, A>): Promise<A> => {
  const started = performance.now()
  const r = await work()
  if (E.isLeft(r)) {
    logUnit(stage, coordinates, started, 'failed', { error: r.left._tag, message: describe(r.left), exitCode: exitCode(r.left) })
    const e = new Error(describe(r.left))
    e.name = r.left._tag
    throw e
  }
  logUnit(stage, coordinates, started, 'ok')
  return r.right
}
