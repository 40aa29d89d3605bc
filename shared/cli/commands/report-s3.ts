/**
 * `bayesamp report s3://bucket/prefix/runs/<run>`: the reports of a run kept in S3, rebuilt from its
 * stored counts and config and written back beside them (the reduce stage, over the whole run).
 */
import * as E from 'fp-ts/lib/Either.js'
import { describe } from '../../pipeline/errors.ts'
import { plan, runPrefix } from '../../pipeline/keys.ts'
import { reduceStage } from '../../pipeline/reduce.ts'
import { storedExperiment } from '../../pipeline/stages.ts'
import { envStoreOptions, openStore } from '../../store/open.ts'

/** Splits `s3://bucket/prefix/runs/<run>` into the store's root and the run name. */
export const splitRunUri = (uri: string): { root: string; run: string } => {
  const m = /^(s3:\/\/[^/]+(?:\/.*?)?)\/?runs\/([^/]+)\/?$/.exec(uri)
  if (m === null) throw new Error(`report: ${uri}: expected s3://bucket[/prefix]/runs/<run>`)
  return { root: m[1], run: m[2] }
}

export const reportFromStore = async (uri: string, o: { allowPartial?: boolean }): Promise<string> => {
  const { root, run } = splitRunUri(uri)
  const opened = openStore(root, envStoreOptions())
  if (E.isLeft(opened)) throw new Error(describe(opened.left))
  const store = opened.right
  const x = await storedExperiment(store, run)()
  if (E.isLeft(x)) throw new Error(describe(x.left))
  const r = await reduceStage(store, x.right, plan(x.right, run), { allowPartial: o.allowPartial })()
  if (E.isLeft(r)) throw new Error(describe(r.left))
  return store.uri(`${runPrefix(run)}/report/report.html`)
}
