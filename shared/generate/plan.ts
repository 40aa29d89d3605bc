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

/** The chunks covering `[0, totalPoints)`. */
export const chunks = (plan: GenerationPlan): Chunk[] => {
  const total = totalPoints(plan)
  const out: Chunk[] = []
  for (let start = 0, index = 0; start < total; start += plan.chunkSize, index++)
    out.push({ index, start, size: Math.min(plan.chunkSize, total - start) })
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
  return undefined
}
