/**
 * Lambda `reduce`: a group's reports (or, with no group, every group's and the comparison of all)
 * from the run's stored counts. Event: `{ run, group? , allowPartial? }`.
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { plan } from '../shared/pipeline/keys.ts'
import { reduceStage } from '../shared/pipeline/reduce.ts'
import type { StageOutcome } from '../shared/pipeline/stages.ts'
import { bucketStore, decodeEvent, runStore, settle, storedExperiment } from './runtime.ts'

const ReduceEvent = t.intersection([t.type({ run: t.string }), t.partial({ group: t.string, allowPartial: t.boolean })])

export const handler = async (event: unknown): Promise<StageOutcome> => {
  const e = decodeEvent(ReduceEvent, event, 'reduce')
  return settle(
    'reduce',
    E.isRight(e) ? { run: e.right.run, group: e.right.group ?? '*' } : {},
    pipe(
      TE.Do,
      TE.bind('e', () => TE.fromEither(e)),
      TE.bindW('store', ({ e }) => TE.fromEither(E.flatMap(bucketStore(), (s) => runStore(s, e.run)))),
      TE.bindW('x', ({ e, store }) => storedExperiment(store, e.run)),
      TE.flatMap(({ e, store, x }) => reduceStage(store, x, plan(x, e.run), { group: e.group, allowPartial: e.allowPartial })),
    ),
  )
}
