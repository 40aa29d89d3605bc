/**
 * The local runner, `bayesamp run`: plan, then every training (one per worker thread, in
 * parallel), then every generation item (one per worker thread), then the reports — against a
 * directory or S3 store. Every stage skips what the store already holds, so running again after
 * an interruption finishes the remaining work and writes the same counts and reports.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Progress, compact } from '../cli/progress.ts'
import { type Experiment, readExperiment } from '../config/experiment.ts'
import { envStoreOptions, openStore, parseLocation } from '../store/open.ts'
import type { ObjectStore } from '../store/store.ts'
import { type PipelineError, stageError } from './errors.ts'
import { type Plan, runPrefix } from './keys.ts'
import { runTasks } from './pool.ts'
import { reduceStage } from './reduce.ts'
import { planStage } from './stages.ts'

export interface RunOptions {
  readonly config: string
  /** A directory (default `runs-store`… see the CLI) or `s3://bucket/prefix`. */
  readonly store: string
  readonly name?: string
  /** Worker threads; default one per core. */
  readonly workers?: number
  readonly allowPartial?: boolean
}

export interface RunLog {
  info(msg: string): void
}

export interface RunResult {
  readonly plan: Plan
  /** Where the run's comparison report is: a file path or a URI. */
  readonly report: string
  readonly trained: number
  readonly generated: number
}

const pooled = (
  stage: string,
  run: () => Promise<string | undefined>,
): TE.TaskEither<PipelineError, void> =>
  pipe(
    TE.tryCatch(run, (e) => stageError(stage, {}, e)),
    TE.flatMap((failure) => (failure === undefined ? TE.right(undefined) : TE.left(stageError(stage, {}, failure)))),
  )

const trainAll = (x: Experiment, p: Plan, location: string, workers: number, counts: { trained: number }): TE.TaskEither<PipelineError, void> =>
  pooled('train', async () => {
    const bar = new Progress('train   ', 'jobs')
    let done = 0
    let last = ''
    const failure = await runTasks(
      { store: location, experiment: x, run: p.run },
      p.trainings.map((job) => ({ kind: 'train' as const, job })),
      workers,
      {
        onProgress: (t, m) => {
          last = `${t.job.group} seed ${t.job.seed} ${m.phase} epoch ${m.epoch}/${m.epochs} loss ${m.loss.toPrecision(4)}${m.acceptance === undefined ? '' : ` acc ${m.acceptance.toFixed(2)}`}`
          bar.update(done, p.trainings.length, last)
        },
        onDone: (_t, r) => {
          done++
          if (!r.skipped) counts.trained++
          bar.update(done, p.trainings.length, last)
        },
      },
    )
    bar.done()
    return failure
  })

const generateAll = (x: Experiment, p: Plan, location: string, workers: number, counts: { generated: number }): TE.TaskEither<PipelineError, void> =>
  pooled('generate', async () => {
    const bar = new Progress('generate', 'pts')
    const total = p.generations.reduce((a, g) => a + g.end - g.start, 0)
    let done = 0
    const failure = await runTasks(
      { store: location, experiment: x, run: p.run },
      p.generations.map((item) => ({ kind: 'generate' as const, item })),
      workers,
      {
        onDone: (t, r) => {
          done += t.item.end - t.item.start
          if (!r.skipped) counts.generated++
          bar.update(done, total)
        },
      },
    )
    bar.done()
    return failure
  })

/** Plans, trains, generates and reduces one experiment. */
export const runLocal = (o: RunOptions, log: RunLog): TE.TaskEither<PipelineError, RunResult> => {
  const workers = o.workers ?? availableParallelism()
  const counts = { trained: 0, generated: 0 }
  return pipe(
    TE.Do,
    TE.bind('x', () => readExperiment(o.config)),
    TE.bindW('location', () => TE.fromEither(parseLocation(o.store))),
    TE.bindW('store', () => TE.fromEither(openStore(o.store, envStoreOptions()))),
    TE.bindW('plan', ({ store, x }) => planStage(store as ObjectStore, x, o.name)),
    TE.tap(({ plan: p }) =>
      TE.fromIO(() =>
        log.info(
          `run ${p.run}: ${p.trainings.length} trainings, ${p.generations.length} generation items ` +
            `(${compact(p.generations.reduce((a, g) => a + g.end - g.start, 0))} points), ${p.reductions.length} groups; ${workers} workers`,
        ),
      ),
    ),
    TE.tap(({ x, plan: p }) => trainAll(x, p, o.store, workers, counts)),
    TE.tap(({ x, plan: p }) => generateAll(x, p, o.store, workers, counts)),
    TE.tap(({ store, x, plan: p, location }) =>
      reduceStage(store, x, p, { allowPartial: o.allowPartial, localRoot: location.kind === 'dir' ? location.path : undefined }),
    ),
    TE.map(({ store, plan: p, location }) => ({
      plan: p,
      report: location.kind === 'dir' ? join(location.path, runPrefix(p.run), 'report', 'report.html') : store.uri(`${runPrefix(p.run)}/report/report.html`),
      ...counts,
    })),
  )
}

/** Whether the local runner's store location is valid, for early CLI errors. */
export const storeProblem = (location: string): string | undefined => {
  const l = parseLocation(location)
  return E.isLeft(l) ? l.left.message : undefined
}
