/**
 * `bayesamp generate`: latent draws → ODE → Gamma-ring quantile counts, written as `.npy` plus a
 * sidecar JSON. A rerun whose outputs already exist for the same model and plan does nothing.
 */
import { readFile } from 'node:fs/promises'
import type { Solver } from '../../core/ode.ts'
import { resolveVariant, type Variant } from '../../core/wasm.ts'
import { generateOrt, generateWasm, type GenerationResult } from '../../generate/generate.ts'
import { type CountsSidecar, sidecarOf, sidecarPath, writeCounts } from '../../generate/output.ts'
import { DEFAULT_CHUNK_SIZE, type GenerationPlan, type PointCount, planProblem, rangeOf, rangePoints } from '../../generate/plan.ts'
import { describeLoad, loadField } from '../../model/load.ts'
import type { Logger } from '../logger.ts'
import { Progress, compact } from '../progress.ts'

export interface GenerateCommand {
  readonly model: string
  readonly out: string
  readonly seed: number
  readonly stream: number
  readonly grids: readonly number[]
  readonly count: PointCount
  readonly solver: Solver
  readonly workers?: number
  readonly variant: Variant | 'auto'
  readonly chunkSize?: number
  readonly range?: { readonly start: number; readonly end: number }
  readonly pointsOut?: string
  /** Recompute even when complete outputs for the same model and plan exist. */
  readonly force?: boolean
}

/** The parts of a sidecar that identify a result: same model, same plan → same counts. */
const identity = (s: CountsSidecar) =>
  JSON.stringify([s.model.sha256, s.evaluator, s.seed, s.stream, s.solver, s.chunkSize, s.totalPoints, s.range, s.pointsPerBin, s.grids.map((g) => [g.n, g.points])])

const existing = async (out: string): Promise<CountsSidecar | undefined> => {
  try {
    return JSON.parse(await readFile(sidecarPath(out), 'utf8')) as CountsSidecar
  } catch {
    return undefined
  }
}

export const generate = async (cmd: GenerateCommand, log: Logger): Promise<{ sidecar: CountsSidecar; skipped: boolean }> => {
  sidecarPath(cmd.out) // checks the name before any work
  const plan: GenerationPlan = {
    seed: cmd.seed,
    stream: cmd.stream,
    grids: cmd.grids,
    count: cmd.count,
    solver: cmd.solver,
    chunkSize: cmd.chunkSize ?? DEFAULT_CHUNK_SIZE,
    range: cmd.range,
  }
  const problem = planProblem(plan)
  if (problem !== undefined) throw new RangeError(problem)

  const loaded = await loadField(cmd.model)
  log.info(describeLoad(loaded))
  const model = { name: loaded.name, sha256: loaded.sha256 }

  const before = await existing(cmd.out)
  if (before !== undefined && !cmd.force && cmd.pointsOut === undefined) {
    const evaluator = loaded.kind === 'graph' ? 'onnxruntime' : resolveVariant(cmd.variant) === 'relaxed' ? 'wasm-relaxed' : 'wasm-simd'
    const planned = sidecarOf(
      { plan, evaluator, totalPoints: rangePoints(plan), range: rangeOf(plan), counts: [], invalid: plan.grids.map(() => 0), evaluations: 0, steps: 0, rejected: 0 },
      model,
    )
    if (identity(planned) === identity(before)) {
      log.info(`${cmd.out}: already complete for this model and plan; nothing to do (--force recomputes)`)
      return { sidecar: before, skipped: true }
    }
  }

  const total = rangePoints(plan)
  log.info(`generating ${compact(total)} points, grids ${plan.grids.join(',')}, ${solverText(plan.solver)}`)
  const progress = new Progress('generate', 'pts')
  const started = performance.now()
  const onProgress = (done: number, all: number) => progress.update(done, all)
  let result: GenerationResult
  try {
    result =
      loaded.kind === 'mlp'
        ? await generateWasm(loaded.model, plan, { workers: cmd.workers, variant: cmd.variant, pointsOut: cmd.pointsOut, onProgress })
        : await generateOrt(loaded.field, plan, { variant: cmd.variant, pointsOut: cmd.pointsOut, onProgress })
  } finally {
    progress.done()
  }
  const seconds = (performance.now() - started) / 1000
  const sidecar = await writeCounts(cmd.out, result, model)
  const invalid = result.invalid.reduce((a, b) => Math.max(a, b), 0)
  log.info(
    `${compact(total)} points in ${seconds.toFixed(1)} s (${compact(total / seconds)} points/s, ${result.evaluator})` +
      (invalid > 0 ? `; ${invalid} non-finite points, counted apart` : ''),
  )
  return { sidecar, skipped: false }
}

export const solverText = (s: Solver): string =>
  s.kind === 'dopri5' ? `dopri5 rtol ${s.rtol} atol ${s.atol}` : `${s.kind} ${s.steps} steps`
