/**
 * `bayesamp report <run directory>`: rebuilds every report of a run from its stored counts.
 *
 * Writes, per DESIGN.md's storage layout, `<run>/<group>/report.json, figures/*.svg|png,
 * report.html` for every group, and a comparison across groups (figures 2 and 3 need every
 * hyperparameter of a method in one figure) at `<run>/report/`. Missing or unreadable counts are an
 * error listing the keys, unless `allowPartial`; then the reports say so at the top.
 *
 * s3:// run URIs need the object-store layer of the pipeline issue and are refused here with a
 * message saying so.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Estimator } from '../stats/amplification.ts'
import { type CountsExpectation, readRunCounts } from '../stats/counts.ts'
import { buildReport } from './build.ts'
import { reportData } from './data.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface ReportCommand {
  /** The run directory (`runs/<run>`). */
  readonly run: string
  /** Build from the counts that exist, listing the rest in the reports (default false). */
  readonly allowPartial?: boolean
  /** Training set size N of the amplification; default: `trainingSize` in the run's config.json. */
  readonly trainingSize?: number
  readonly levels?: number
  readonly estimator?: Estimator
  readonly fitLast?: number
  /** Grid of figure 1 (default 5). */
  readonly ringGrid?: number
  /** Truth points drawn for figure 1 (default 3000). */
  readonly ringPoints?: number
  readonly expect?: CountsExpectation
  /**
   * Also write the comparison across groups at `<run>/report/` (default true). A reduce of one
   * group sets it false: a comparison of that group alone would overwrite the run's.
   */
  readonly comparison?: boolean
}

/** The logging the command needs (the CLI's logger fits). */
export interface ReportLog {
  info(message: string): void
  warn(message: string): void
}

export interface ReportResult {
  /** Every report folder written. */
  readonly written: string[]
  readonly missing: readonly string[]
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const readConfig = async (run: string): Promise<unknown> => {
  const path = join(run, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return null
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`)
  }
}

/** N from the config: `trainingSize` at the top level or `training.size`. */
const configTrainingSize = (config: unknown): number | undefined => {
  const c = config as { trainingSize?: unknown; training?: { size?: unknown } } | null
  const v = c?.trainingSize ?? c?.training?.size
  return typeof v === 'number' && v > 0 ? v : undefined
}

// -------------------------------------------------------------------------------------
// command
// -------------------------------------------------------------------------------------

/** Runs `bayesamp report`. */
export const reportCommand = async (cmd: ReportCommand, log: ReportLog): Promise<ReportResult> => {
  if (cmd.run.startsWith('s3://'))
    throw new Error(`report: ${cmd.run}: s3:// runs are not supported yet (the object-store layer belongs to the pipeline); copy the run to a directory and pass that`)
  const config = await readConfig(cmd.run)
  const trainingSize = cmd.trainingSize ?? configTrainingSize(config)
  if (trainingSize === undefined)
    throw new Error(`report: training size N unknown: pass --training-size or set "trainingSize" in ${join(cmd.run, 'config.json')}`)

  const counts = await readRunCounts(cmd.run, { allowPartial: cmd.allowPartial, expect: cmd.expect })
  if (counts.missing.length > 0) log.warn(`report: ${counts.missing.length} count key(s) missing; building a partial report`)
  if (counts.groups.length === 0) throw new Error(`report: ${cmd.run}: no usable counts in any group`)
  const options = { levels: cmd.levels, estimator: cmd.estimator, fitLast: cmd.fitLast }
  const ring = { n: cmd.ringGrid, count: cmd.ringPoints }
  const written: string[] = []

  for (const g of counts.groups) {
    const data = reportData({
      title: `bayesamp report: ${g.group}`,
      groups: [g],
      trainingSize: () => trainingSize,
      missing: counts.missing.filter((k) => k.startsWith(`${g.group}/`) || k.startsWith(`${g.group}:`)),
      config,
      options,
    })
    const dir = join(cmd.run, g.group)
    await buildReport(data, dir, { ring })
    written.push(dir)
    log.info(`report: ${g.group}: ${g.grids.length} grid(s), ${g.grids[0]?.seeds.length ?? 0} seed(s) → ${join(dir, 'report.html')}`)
  }
  if (cmd.comparison === false) return { written, missing: counts.missing }
  const all = reportData({
    title: `bayesamp report: ${counts.groups.map((g) => g.group).join(', ')}`,
    groups: counts.groups,
    trainingSize: () => trainingSize,
    missing: counts.missing,
    config,
    options,
  })
  const dir = join(cmd.run, 'report')
  await buildReport(all, dir, { ring })
  written.push(dir)
  log.info(`report: all groups → ${join(dir, 'report.html')}`)
  return { written, missing: counts.missing }
}
