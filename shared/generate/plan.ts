/**
 * What one generation computes, as pure data: how many latent points, which global indices each
 * grid counts (the prefix rule), and how the index range is cut into chunks.
 *
 * Chunk boundaries are fixed by `chunkSize` alone, never by the number of workers: every chunk is
 * computed the same way wherever it runs (the adaptive solver's step sizes depend on the chunk's
 * points), and counts are sums of integers, so the result is bit-identical for any worker count.
 */
import type { Solver } from '../core/ode.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** How many points to generate: a fixed count, or `perBin · n²` for the largest grid. */
export type PointCount =
  | { readonly kind: 'fixed'; readonly points: number }
  | { readonly kind: 'perBin'; readonly pointsPerBin: number }

export interface GenerationPlan {
  /** Seed of the counter-based generator for the latent points. */
  readonly seed: number
  /** Latent stream: by default every posterior sample decodes stream 0 (common random numbers). */
  readonly stream: number
  /** Sides `n` of the `n × n` quantile grids. */
  readonly grids: readonly number[]
  readonly count: PointCount
  readonly solver: Solver
  /** Points per chunk: the unit of work of a worker, and of the adaptive solver's shared step. */
  readonly chunkSize: number
  /**
   * Only the latent indices `[start, end)` of the sample — a shard. Shards start on chunk
   * boundaries, so a sharded sample is cut into the same chunks as a whole one and its shards'
   * counts sum to the whole sample's, bit for bit. Default: the whole sample.
   */
  readonly range?: { readonly start: number; readonly end: number }
}

export interface Chunk {
  readonly index: number
  readonly start: number
  readonly size: number
}

export const DEFAULT_CHUNK_SIZE = 4096

// -------------------------------------------------------------------------------------
// derived quantities
// -------------------------------------------------------------------------------------

/** Points counted by each grid: all of them for a fixed count, `perBin · n²` by the prefix rule. */
export const gridLimits = (plan: GenerationPlan): number[] =>
  plan.grids.map((n) => (plan.count.kind === 'fixed' ? plan.count.points : plan.count.pointsPerBin * n * n))

/** Total latent points to generate. */
export const totalPoints = (plan: GenerationPlan): number => Math.max(0, ...gridLimits(plan))

/** The latent indices this plan generates: its range, clipped to the sample. */
export const rangeOf = (plan: GenerationPlan): { start: number; end: number } => {
  const total = totalPoints(plan)
  const start = Math.min(plan.range?.start ?? 0, total)
  return { start, end: Math.max(start, Math.min(plan.range?.end ?? total, total)) }
}

/** Points this plan generates. */
export const rangePoints = (plan: GenerationPlan): number => {
  const r = rangeOf(plan)
  return r.end - r.start
}

/** Per grid, the points of the plan's range that the grid counts (prefix rule). */
export const gridCounted = (plan: GenerationPlan): number[] => {
  const { start, end } = rangeOf(plan)
  return gridLimits(plan).map((limit) => Math.max(0, Math.min(end, limit) - start))
}

/** The chunks covering the plan's range; `index` counts from the range's first chunk. */
export const chunks = (plan: GenerationPlan): Chunk[] => {
  const { start: from, end } = rangeOf(plan)
  const out: Chunk[] = []
  for (let start = from, index = 0; start < end; start += plan.chunkSize, index++)
    out.push({ index, start, size: Math.min(plan.chunkSize, end - start) })
  return out
}

/** Offsets of each grid's counts in the concatenated counts array. */
export const gridOffsets = (grids: readonly number[]): number[] => {
  const out: number[] = []
  let at = 0
  for (const n of grids) {
    out.push(at)
    at += n * n
  }
  return out
}

/** Checks a plan; returns a message naming the offending field, or undefined. */
export const planProblem = (plan: GenerationPlan): string | undefined => {
  const isCount = (v: number) => Number.isSafeInteger(v) && v >= 0
  if (!isCount(plan.seed)) return `seed must be a non-negative integer, got ${plan.seed}`
  if (!isCount(plan.stream)) return `stream must be a non-negative integer, got ${plan.stream}`
  if (plan.grids.length === 0) return 'grids must list at least one grid size'
  const badGrid = plan.grids.find((n) => !Number.isInteger(n) || n < 1 || n > 4096)
  if (badGrid !== undefined) return `grid sizes must be integers in [1, 4096], got ${badGrid}`
  if (new Set(plan.grids).size !== plan.grids.length) return `grid sizes must be distinct, got ${plan.grids.join(',')}`
  if (plan.count.kind === 'fixed' && (!isCount(plan.count.points) || plan.count.points < 1))
    return `points must be a positive integer, got ${plan.count.points}`
  if (plan.count.kind === 'perBin' && (!isCount(plan.count.pointsPerBin) || plan.count.pointsPerBin < 1))
    return `points per bin must be a positive integer, got ${plan.count.pointsPerBin}`
  if (!Number.isInteger(plan.chunkSize) || plan.chunkSize < 1 || plan.chunkSize > 1 << 20)
    return `chunk size must be an integer in [1, 1048576], got ${plan.chunkSize}`
  if (totalPoints(plan) > Number.MAX_SAFE_INTEGER / 4) return 'too many points'
  if (plan.range !== undefined) {
    const { start, end } = plan.range
    if (!isCount(start) || !isCount(end) || end <= start)
      return `range must be non-negative integers with start < end, got [${start}, ${end})`
    if (start % plan.chunkSize !== 0)
      return `range start ${start} must be a multiple of the chunk size ${plan.chunkSize}, so that shards cut the sample into the same chunks`
  }
  return undefined
}
