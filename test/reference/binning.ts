/**
 * Plain TypeScript reference of the polar quantile binning (wasm/assembly/binning.ts), used only by
 * the tests: one point at a time, radial bin by a linear scan over the edges.
 */
import type { GridSpec } from '../../shared/core/binning.ts'

/** Bin `jr·n + jφ` of the point (x, y) in an n×n grid, or −1 when x or y is NaN or infinite. */
export const binOf = (x: number, y: number, n: number, radialEdges: ArrayLike<number>): number => {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return -1
  const r = Math.sqrt(x * x + y * y)
  let phi = Math.atan2(y, x)
  if (phi < 0) phi += 2 * Math.PI
  let jr = 0
  for (let k = 0; k < radialEdges.length; k++) if (radialEdges[k] <= r) jr = k + 1
  const jphi = Math.min(n - 1, Math.floor((phi * n) / (2 * Math.PI)))
  return jr * n + jphi
}

/** Counts and invalid tallies of row-major [m, 2] points with global indices from `globalStart`. */
export const binAll = (
  points: Float32Array,
  globalStart: number,
  grids: readonly GridSpec[],
): { counts: Float64Array[]; invalid: number[] } => {
  const counts = grids.map((g) => new Float64Array(g.n * g.n))
  const invalid = grids.map(() => 0)
  for (let i = 0; 2 * i < points.length; i++)
    grids.forEach((g, b) => {
      if (globalStart + i >= g.limit) return
      const bin = binOf(points[2 * i], points[2 * i + 1], g.n, g.radialEdges)
      if (bin < 0) invalid[b]++
      else counts[b][bin]++
    })
  return { counts, invalid }
}
