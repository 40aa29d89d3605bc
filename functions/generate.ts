/**
 * Lambda `generate`: one (posterior sample, shard) of a run. Event: `{ run, group, seed, sample,
 * shard }` — an item of the plan's JSON array. The item's keys and point range are recomputed
 * from the run's stored config, never taken from the event, and every key stays inside the run.
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { stageError } from '../shared/pipeline/errors.ts'
import { plan } from '../shared/pipeline/keys.ts'
import { type StageOutcome, generateStage } from '../shared/pipeline/stages.ts'
import { bucketStore, decodeEvent, runStore, settle, storedExperiment } from './runtime.ts'

const GenerateEvent = t.type({ run: t.string, group: t.string, seed: t.number, sample: t.number, shard: t.number })

export const handler = async (event: unknown): Promise<StageOutcome> => {
  const e = decodeEvent(GenerateEvent, event, 'generate')
  const coords = E.isRight(e) ? { ...e.right } : {}
  return settle(
    'generate',
    coords,
    pipe(
      TE.Do,
      TE.bind('e', () => TE.fromEither(e)),
      TE.bindW('store', ({ e }) => TE.fromEither(E.flatMap(bucketStore(), (s) => runStore(s, e.run)))),
      TE.bindW('x', ({ e, store }) => storedExperiment(store, e.run)),
      TE.flatMap(({ e, store, x }) => {
        const item = plan(x, e.run).generations.find(
          (g) => g.group === e.group && g.seed === e.seed && g.sample === e.sample && g.shard === e.shard,
        )
        return item === undefined
          ? TE.left(stageError('generate', { ...e }, `run ${e.run} plans no such item`))
          : generateStage(store, x, item, { workers: 0 })
      }),
    ),
  )
}
