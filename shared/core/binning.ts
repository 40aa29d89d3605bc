/**
 * Polar quantile binning on the compute core (wasm/assembly/binning.ts): points to `(r, φ)` with
 * `φ ∈ [0, 2π)`, then counts in many `n × n` grids in one pass.
 *
 * Radial edges are given per grid (`n − 1` interior edges; the first and last radial bins are
 * open-ended), angular edges are uniform, intervals are right-open, and bin `jr·n + jφ` holds the
 * points with radial bin `jr` and angular bin `jφ`. Points with a NaN or infinite coordinate are
 * counted apart per grid (`invalid()`), never dropped. Prefix rule: grid `b` counts only the points
 * of global index `< limit_b`, so one pass over one sample serves every grid.
 *
 * A `Binner` keeps its tables and counts in the core's arena for its whole life: create it outside
 * any `scoped` block that ends before its last use (it detects a released arena and throws).
 */
import type { Core } from './wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One `n × n` polar grid. */
export interface GridSpec {
  /** Bins per axis (radial and angular). */
  readonly n: number
  /** The `n − 1` interior radial edges, finite and strictly increasing. */
  readonly radialEdges: Float64Array
  /** Global index bound of the prefix rule: only points of index `< limit` are counted. */
  readonly limit: number
}

type Accumulate = (xPtr: number, yPtr: number, count: number, globalStart: number, grids: number, table: number) => void

/** f64 words per grid in the kernel's grid table (BIN_GRID_WORDS in the kernel). */
const GRID_WORDS = 8
/** Points per kernel call when copying from JS arrays (bounds the scratch memory). */
const CHUNK = 1 << 20

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** Throws a RangeError naming the grid and the problem when `g` is not a valid grid. */
export const checkGrid = (g: GridSpec, b: number): void => {
  const name = `grid ${b}`
  if (!Number.isInteger(g.n) || g.n < 1 || g.n > 1 << 14)
    throw new RangeError(`${name}: n must be an integer in [1, 16384], got ${g.n}`)
  if (!(g.radialEdges instanceof Float64Array))
    throw new RangeError(`${name} (n = ${g.n}): radialEdges must be a Float64Array`)
  if (g.radialEdges.length !== g.n - 1)
    throw new RangeError(
      `${name} (n = ${g.n}): radialEdges must have n − 1 = ${g.n - 1} entries, got ${g.radialEdges.length}`,
    )
  g.radialEdges.forEach((e, k) => {
    if (!Number.isFinite(e)) throw new RangeError(`${name} (n = ${g.n}): radial edge ${k} is not finite (${e})`)
    if (k > 0 && !(e > g.radialEdges[k - 1]))
      throw new RangeError(
        `${name} (n = ${g.n}): radial edges must increase strictly, ` +
          `but edge ${k} (${e}) ≤ edge ${k - 1} (${g.radialEdges[k - 1]})`,
      )
  })
  if (!Number.isInteger(g.limit) || g.limit < 0 || g.limit > 2 ** 53)
    throw new RangeError(`${name} (n = ${g.n}): limit must be an integer in [0, 2^53], got ${g.limit}`)
}

// -------------------------------------------------------------------------------------
// binner
// -------------------------------------------------------------------------------------

/**
 * Accumulates polar counts of a stream of point chunks into several quantile grids at once.
 *
 * @example
 * const binner = new Binner(core(), [{ n: 10, radialEdges: radialEdges(10), limit: 1_000_000 }])
 * binner.accumulate(points, 0) // points: row-major [n, 2] f32, global indices 0 … n − 1
 * const [counts] = binner.counts() // 100 bins, index jr·10 + jφ
 */
export class Binner {
  readonly core: Core
  readonly grids: readonly GridSpec[]
  private readonly table: number
  private readonly countPtrs: readonly number[]
  /** The arena mark just after this binner's memory: a lower mark means it was released. */
  private readonly end: number

  constructor(core: Core, grids: readonly GridSpec[]) {
    if (grids.length === 0) throw new RangeError('Binner: at least one grid is required')
    grids.forEach(checkGrid)
    this.core = core
    this.grids = grids.map((g) => ({ n: g.n, radialEdges: g.radialEdges.slice(), limit: g.limit }))
    this.table = core.allocF64(GRID_WORDS * grids.length)
    this.countPtrs = this.grids.map((g, b) => {
      const edges = core.putF64(g.radialEdges)
      const counts = core.allocF64(g.n * g.n)
      core.f64(this.table + 8 * GRID_WORDS * b, GRID_WORDS).set([g.n, edges, counts, g.limit, 0, 0, 0, 0])
      return counts
    })
    this.end = core.exports.arenaMark()
    this.reset()
  }

  /**
   * Bins `n` points stored structure-of-arrays at `statePtr` (f32 x[0…n), then y[0…n)) whose global
   * indices are `globalStart … globalStart + n − 1`.
   */
  accumulatePtr(statePtr: number, n: number, globalStart: number): void {
    this.checkAlive()
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1)
      throw new RangeError(`Binner: point count must be an integer in [0, 2^31), got ${n}`)
    if (!Number.isInteger(globalStart) || globalStart < 0 || globalStart > 2 ** 53 - n)
      throw new RangeError(
        `Binner: globalStart must be a non-negative integer with globalStart + n ≤ 2^53, got ${globalStart}`,
      )
    if (n === 0) return
    const kernel = this.core.fn<Accumulate>('binPolarAccumulate')
    kernel(statePtr, statePtr + 4 * n, n, globalStart, this.grids.length, this.table)
  }

  /** Bins row-major `[n, 2]` points whose global indices start at `globalStart`. */
  accumulate(points: Float32Array, globalStart: number): void {
    if (points.length % 2 !== 0)
      throw new RangeError(`Binner: points must be row-major [n, 2], got length ${points.length}`)
    const n = points.length / 2
    const c = this.core
    for (let from = 0; from < n; from += CHUNK) {
      const m = Math.min(CHUNK, n - from)
      // Skip chunks that no grid counts (the prefix rule), without copying them.
      if (this.grids.every((g) => g.limit <= globalStart + from)) return
      c.scoped(() => {
        const p = c.allocF32(2 * m)
        const soa = c.f32(p, 2 * m)
        for (let i = 0; i < m; i++) {
          soa[i] = points[2 * (from + i)]
          soa[m + i] = points[2 * (from + i) + 1]
        }
        this.accumulatePtr(p, m, globalStart + from)
      })
    }
  }

  /** Counts per grid, `n²` each, bin `jr·n + jφ`; integer-valued, exact below 2^53. */
  counts(): Float64Array[] {
    this.checkAlive()
    return this.grids.map((g, b) => this.core.f64(this.countPtrs[b], g.n * g.n).slice())
  }

  /** Per grid, the number of points within its prefix that had a NaN or infinite coordinate. */
  invalid(): number[] {
    this.checkAlive()
    return this.grids.map((_, b) => this.core.f64(this.table + 8 * (GRID_WORDS * b + 4), 1)[0])
  }

  /** Sets every count and invalid tally back to zero. */
  reset(): void {
    this.checkAlive()
    this.grids.forEach((g, b) => {
      this.core.f64(this.countPtrs[b], g.n * g.n).fill(0)
      this.core.f64(this.table + 8 * (GRID_WORDS * b + 4), 1)[0] = 0
    })
  }

  private checkAlive(): void {
    if (this.core.exports.arenaMark() < this.end)
      throw new Error(
        'Binner: its memory in the core arena was released (arenaReset below it); ' +
          'create the Binner outside any scoped block that ends before its last use',
      )
  }
}
