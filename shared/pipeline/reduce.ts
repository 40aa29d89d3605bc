/**
 * The reduce stage: a run's reports from its stored counts (see stages.ts for the other stages).
 * Apart from them because it alone needs the plotting stack (Vega, resvg's native renderer), which
 * the plan and generate functions should not carry.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import * as A from 'fp-ts/lib/Array.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { Experiment } from '../config/experiment.ts'
import { reportCommand } from '../report/command.ts'
import type { ObjectStore } from '../store/store.ts'
import type { PipelineError } from './errors.ts'
import { type Plan, runPrefix } from './keys.ts'
import { type StageOutcome, attempt, timed } from './stages.ts'

// -------------------------------------------------------------------------------------
// reduce
// -------------------------------------------------------------------------------------

export interface ReduceStageOptions {
  readonly allowPartial?: boolean
  /**
   * Only this group's report (the comparison at `runs/<run>/report/` is not written); absent: every
   * group's and the comparison of all groups.
   */
  readonly group?: string
  /** A local folder holding the store's objects (the directory store's root), to read in place. */
  readonly localRoot?: string
}

const listFiles = async (dir: string): Promise<string[]> => {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await listFiles(p)))
    else out.push(p)
  }
  return out
}

/**
 * The reports of a run from its stored counts. A directory store is read in place; any other
 * store is mirrored (config and counts) into a temporary folder, and the reports are uploaded back.
 */
export const reduceStage = (store: ObjectStore, x: Experiment, p: Plan, opts: ReduceStageOptions = {}): TE.TaskEither<PipelineError, StageOutcome> => {
  const prefix = runPrefix(p.run)
  const groups = opts.group === undefined ? p.reductions.map((r) => r.group) : [opts.group]
  const expect = {
    groups,
    seeds: Array.from({ length: x.seeds }, (_, s) => s),
    shards: new Set(p.generations.map((g) => g.shard)).size,
    grids: x.grids,
  }
  const coords = { run: p.run, group: opts.group ?? '*' }
  const report = (runDir: string) =>
    attempt('reduce', coords, () =>
      reportCommand(
        {
          run: runDir,
          allowPartial: opts.allowPartial,
          trainingSize: x.trainingSize,
          expect,
          levels: x.levels.length,
          // one group's reduce leaves the comparison of all groups (runs/<run>/report/) alone
          comparison: opts.group === undefined,
        },
        { info: () => {}, warn: () => {} },
      ),
    )
  if (opts.localRoot !== undefined)
    return pipe(
      timed(report(join(opts.localRoot, prefix))),
      TE.map(([, seconds]) => ({ skipped: false, seconds })),
    )
  return pipe(
    timed(
      pipe(
        TE.Do as TE.TaskEither<PipelineError, {}>,
        TE.bindW('dir', () => attempt('reduce', coords, () => mkdtemp(join(tmpdir(), 'bayesamp-reduce-')))),
        TE.bindW('keys', () => store.list(`${prefix}/`)),
        TE.flatMap(({ dir, keys }) =>
          pipe(
            keys.filter((k) => k === p.configKey || /\/counts\/sample-\d+\/shard-\d+\.(npy|json)$/.test(k)),
            A.map((k) =>
              pipe(
                store.get(k),
                TE.flatMap((bytes) =>
                  attempt('reduce', coords, async () => {
                    const file = join(dir, k)
                    await mkdir(dirname(file), { recursive: true })
                    await writeFile(file, bytes)
                  }),
                ),
              ),
            ),
            TE.sequenceSeqArray,
            TE.flatMap(() => report(join(dir, prefix))),
            TE.flatMap((r) =>
              pipe(
                attempt('reduce', coords, async () => {
                  const files: string[] = []
                  for (const d of r.written) files.push(...(await listFiles(d)))
                  // the page last: its presence marks a complete report
                  return files.sort((a, b) => Number(a.endsWith('.html')) - Number(b.endsWith('.html')))
                }),
                TE.flatMap((files) =>
                  pipe(
                    files,
                    A.map((f) =>
                      pipe(
                        attempt('reduce', coords, () => readFile(f)),
                        TE.flatMap((bytes) => store.put(`${prefix}/${relative(join(dir, prefix), f).split('\\').join('/')}`, new Uint8Array(bytes))),
                      ),
                    ),
                    TE.sequenceSeqArray,
                  ),
                ),
              ),
            ),
            TE.tapError(() => TE.fromTask(() => rm(dir, { recursive: true, force: true }))),
            TE.tap(() => TE.fromTask(() => rm(dir, { recursive: true, force: true }))),
          ),
        ),
      ),
    ),
    TE.map(([, seconds]) => ({ skipped: false, seconds })),
  )
}
