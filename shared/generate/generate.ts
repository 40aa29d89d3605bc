/**
 * Generation: latent points → ODE → quantile counts, for one vector field and one plan.
 *
 * A model of the MLP family runs on the WASM core, in worker threads (one per core by default) or
 * in this thread (`workers: 0`). Chunks are handed out dynamically; since chunk boundaries don't
 * depend on the worker count and counts are integer sums, the counts are bit-identical for any
 * `workers`. A graph outside the family runs through onnxruntime-node in this thread, with the host
 * solvers: slower, same definitions.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { Binner } from '../core/binning.ts'
import { integrateHost } from '../core/ode-host.ts'
import { normals } from '../core/rng.ts'
import { Core, resolveVariant, type Variant } from '../core/wasm.ts'
import { type PositionalFile, openPositional } from '../io/atomic.ts'
import { npyHeader } from '../io/npy.ts'
import type { OrtField } from '../model/ort.ts'
import type { Mlp } from '../model/spec.ts'
import { type Chunk, type GenerationPlan, chunks, planProblem, rangeOf, rangePoints } from './plan.ts'
import { type ChunkResult, ChunkRunner, ringGrids } from './runner.ts'
import type { FromWorker, ToWorker, WorkerInit } from './worker.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface GenerateOptions {
  /** Worker threads; 0 runs in this thread. Default: one per core. */
  readonly workers?: number
  readonly variant?: Variant | 'auto'
  /** Where to write the generated points as a row-major [N, 2] float32 `.npy`, if anywhere. */
  readonly pointsOut?: string
  /** Called after every chunk with the points done so far. */
  readonly onProgress?: (done: number, total: number) => void
}

export interface GenerationResult {
  readonly plan: GenerationPlan
  /** Which evaluator ran the field: the WASM kernel (with its variant) or onnxruntime-node. */
  readonly evaluator: 'wasm-simd' | 'wasm-relaxed' | 'onnxruntime'
  readonly totalPoints: number
  /** The latent indices generated. */
  readonly range: { readonly start: number; readonly end: number }
  /** Per grid, `n × n` counts, bin (j_r, j_φ) at j_r · n + j_φ. */
  readonly counts: Float64Array[]
  /** Per grid, points that were NaN or infinite (not in any bin). */
  readonly invalid: number[]
  readonly evaluations: number
  readonly steps: number
  readonly rejected: number
}

export const defaultWorkers = (): number => availableParallelism()

const checkPlan = (plan: GenerationPlan): void => {
  const problem = planProblem(plan)
  if (problem !== undefined) throw new RangeError(`invalid generation plan: ${problem}`)
}

// -------------------------------------------------------------------------------------
// points output
// -------------------------------------------------------------------------------------

const openPoints = async (path: string | undefined, total: number): Promise<PositionalFile | undefined> => {
  if (path === undefined) return undefined
  const file = await openPositional(path)
  await file.write(npyHeader('<f4', [total, 2]), 0)
  return file
}

/** Byte offset of a chunk's rows in the points file, whose first row is the range's first point. */
const pointsPosition = (chunk: { start: number }, plan: GenerationPlan): number =>
  npyHeader('<f4', [0, 2]).length + (chunk.start - rangeOf(plan).start) * 8

// -------------------------------------------------------------------------------------
// WASM path
// -------------------------------------------------------------------------------------

const sumCounts = (into: Float64Array[], add: readonly Float64Array[]) =>
  into.forEach((c, b) => add[b].forEach((v, j) => (c[j] += v)))

/** Generates from a model of the MLP family on the WASM core. */
export const generateWasm = async (model: Mlp, plan: GenerationPlan, opts: GenerateOptions = {}): Promise<GenerationResult> => {
  checkPlan(plan)
  const variant = resolveVariant(opts.variant ?? 'auto')
  const total = rangePoints(plan)
  const todo = chunks(plan)
  const workers = Math.max(0, Math.min(opts.workers ?? defaultWorkers(), todo.length))
  const points = await openPoints(opts.pointsOut, total)
  const counts = plan.grids.map((n) => new Float64Array(n * n))
  const invalid = plan.grids.map(() => 0)
  const totals = { evaluations: 0, steps: 0, rejected: 0, done: 0 }
  const pending: Promise<void>[] = []

  const record = (chunk: Chunk, r: ChunkResult) => {
    totals.evaluations += r.evaluations
    totals.steps = Math.max(totals.steps, r.steps)
    totals.rejected += r.rejected
    totals.done += chunk.size
    if (points !== undefined && r.points !== undefined) {
      const bytes = new Uint8Array(r.points.buffer, r.points.byteOffset, r.points.byteLength)
      pending.push(points.write(bytes, pointsPosition(chunk, plan)))
    }
    opts.onProgress?.(totals.done, total)
  }

  try {
    if (workers === 0) {
      // A core of its own: its arena is not shared with anything else in this thread.
      const runner = new ChunkRunner(new Core(variant), model, plan, points !== undefined)
      for (const chunk of todo) record(chunk, runner.run(chunk))
      sumCounts(counts, runner.counts())
      runner.invalid().forEach((v, b) => (invalid[b] += v))
    } else {
      const init: WorkerInit = { variant, spec: model.spec, params: model.params, plan, keepPoints: points !== undefined }
      await runPool(workers, init, todo, record, (c, inv) => {
        sumCounts(counts, c)
        inv.forEach((v, b) => (invalid[b] += v))
      })
    }
    await Promise.all(pending)
    await points?.commit()
  } catch (e) {
    await Promise.allSettled(pending)
    await points?.abort()
    throw e
  }
  return {
    plan,
    evaluator: variant === 'relaxed' ? 'wasm-relaxed' : 'wasm-simd',
    totalPoints: total,
    range: rangeOf(plan),
    counts,
    invalid,
    evaluations: totals.evaluations,
    steps: totals.steps,
    rejected: totals.rejected,
  }
}

const bootUrl = new URL('./boot.mjs', import.meta.url)
const workerUrl = new URL('./worker.ts', import.meta.url).href

/** Hands chunks to `size` workers as they free up; resolves when every worker returned its counts. */
const runPool = (
  size: number,
  init: WorkerInit,
  todo: readonly Chunk[],
  record: (chunk: Chunk, r: ChunkResult) => void,
  collect: (counts: Float64Array[], invalid: number[]) => void,
): Promise<void> =>
  new Promise((resolve, reject) => {
    const queue = [...todo]
    const workers: Worker[] = []
    let finished = 0
    let failed = false
    const fail = (e: Error) => {
      if (failed) return
      failed = true
      workers.forEach((w) => void w.terminate())
      reject(e)
    }
    const next = (w: Worker, inFlight: { chunk?: Chunk }) => {
      const chunk = queue.shift()
      inFlight.chunk = chunk
      const m: ToWorker = chunk === undefined ? { type: 'finish' } : { type: 'chunk', chunk }
      w.postMessage(m)
    }
    for (let i = 0; i < size; i++) {
      const w = new Worker(bootUrl, { workerData: { entry: workerUrl, init } })
      workers.push(w)
      const inFlight: { chunk?: Chunk } = {}
      let returned = false
      w.on('message', (m: FromWorker) => {
        if (failed) return
        if (m.type === 'error') return fail(new Error(`generation worker ${i}: ${m.message}`))
        if (m.type === 'done') record(inFlight.chunk!, m.result)
        if (m.type === 'counts') {
          returned = true
          collect(m.counts, m.invalid)
          void w.terminate()
          if (++finished === size) resolve()
          return
        }
        next(w, inFlight)
      })
      w.on('error', (e) => fail(new Error(`generation worker ${i} crashed: ${e.message}`)))
      w.on('exit', (code) => {
        if (!returned) fail(new Error(`generation worker ${i} exited (code ${code}) before returning its counts`))
      })
    }
  })

// -------------------------------------------------------------------------------------
// onnxruntime path
// -------------------------------------------------------------------------------------

/** Generates from an arbitrary ONNX vector field through onnxruntime-node, in this thread. */
export const generateOrt = async (field: OrtField, plan: GenerationPlan, opts: GenerateOptions = {}): Promise<GenerationResult> => {
  checkPlan(plan)
  if (field.dim !== 2) throw new RangeError(`generation bins the 2-D Gamma ring; the model has dimension ${field.dim}`)
  const c = new Core(opts.variant ?? 'auto')
  const total = rangePoints(plan)
  const points = await openPoints(opts.pointsOut, total)
  const totals = { evaluations: 0, steps: 0, rejected: 0, done: 0 }
  const hostField = (t: number, x: Float32Array) => field.evaluate(new Float32Array(x.length / 2).fill(t), x)
  try {
    {
      const binner = new Binner(c, ringGrids(plan))
      for (const chunk of chunks(plan)) {
        const z = normals(c, { seed: plan.seed, stream: plan.stream }, chunk.start, chunk.size, 2)
        const { x, stats } = await integrateHost(hostField, z, 2, plan.solver, 0, 1)
        binner.accumulate(x, chunk.start)
        await points?.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), pointsPosition(chunk, plan))
        totals.evaluations += stats.evaluations * chunk.size
        totals.steps = Math.max(totals.steps, stats.steps)
        totals.rejected += stats.rejected
        totals.done += chunk.size
        opts.onProgress?.(totals.done, total)
      }
      await points?.commit()
      return {
        plan,
        evaluator: 'onnxruntime' as const,
        totalPoints: total,
        range: rangeOf(plan),
        counts: binner.counts(),
        invalid: binner.invalid(),
        evaluations: totals.evaluations,
        steps: totals.steps,
        rejected: totals.rejected,
      }
    }
  } catch (e) {
    await points?.abort()
    throw e
  }
}
