/**
 * Lambda `plan`: decodes the experiment, records it under the run (config.json, the generation
 * items as a JSON array for the Distributed Map) and returns what the state machine fans out.
 * Event: `{ "config": {…experiment…}, "run"?: "<name>" }`.
 */
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { decodeExperiment } from '../shared/config/experiment.ts'
import { planStage, itemsKey } from '../shared/pipeline/stages.ts'
import { bucketStore, decodeEvent, settle } from './runtime.ts'

const PlanEvent = t.intersection([t.type({ config: t.UnknownRecord }), t.partial({ run: t.string })])

export interface PlanOutput {
  readonly run: string
  readonly trainingJobs: ReadonlyArray<{ readonly run: string; readonly group: string; readonly seed: number }>
  /** The S3 key of the items list in the bucket (`[<BAYESAMP_PREFIX>/]runs/<run>/plan/items.json`). */
  readonly itemsKey: string
  readonly groups: readonly string[]
}

/** The bucket's key of store key `key` under store prefix `prefix` (as the S3 store forms it). */
const bucketKey = (prefix: string, key: string): string => {
  const base = prefix.replace(/\/$/, '')
  return base === '' ? key : `${base}/${key}`
}

export const handler = (event: unknown): Promise<PlanOutput> =>
  settle(
    'plan',
    {},
    pipe(
      TE.Do,
      TE.bind('e', () => TE.fromEither(decodeEvent(PlanEvent, event, 'plan'))),
      TE.bindW('x', ({ e }) => TE.fromEither(decodeExperiment(e.config, 'event.config'))),
      TE.bindW('store', () => TE.fromEither(bucketStore())),
      TE.flatMap(({ e, x, store }) => planStage(store, x, e.run)),
      TE.map((p) => ({
        run: p.run,
        trainingJobs: p.trainings.map((j) => ({ run: p.run, group: j.group, seed: j.seed })),
        // the Distributed Map's ItemReader reads this key from the bucket itself: the store's prefix included
        itemsKey: bucketKey(process.env.BAYESAMP_PREFIX ?? '', itemsKey(p.run)),
        groups: p.reductions.map((r) => r.group),
      })),
    ),
  )
