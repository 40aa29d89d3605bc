/**
 * The Gamma ring's `n × n` quantile grid (section 4.3) as the reducer and figure 1 use it: full
 * radial edges `[4, q₁, …, q_{n−1}, ∞]`, the radial position of a bin, and truth points. The
 * distribution itself (CDF, exact quantiles, sampler) lives in shared/data/gamma-ring.ts.
 */
import { core } from '../core/wasm.ts'
import { RING_RADIUS, gammaQuantile, radialEdges, sampleRing } from '../data/gamma-ring.ts'

/** Inner edge of the ring: r ≥ R0. */
export const R0 = RING_RADIUS

/** The n + 1 radial edges of an n × n quantile grid, from R0 to ∞. */
export const gridEdges = (n: number): Float64Array => {
  const edges = new Float64Array(n + 1)
  edges[0] = R0
  edges.set(radialEdges(n), 1)
  edges[n] = Infinity
  return edges
}

/** Radius of the probability midpoint of radial bin j of n: R0 + Q((j + ½)/n). */
export const radialBinCentre = (j: number, n: number): number => R0 + gammaQuantile((j + 0.5) / n)

/** `count` truth points, row-major [count, 2], from the project's counter-based generator. */
export const truthPoints = (count: number, seed: number): Float64Array => Float64Array.from(sampleRing(core(), seed, count))

/**
 * The bin `j_r · n + j_φ` of a point in the grid with full edges `edges` (from gridEdges), or −1
 * for a point below R0 or non-finite. Intervals are right-open.
 */
export const ringBin = (x: number, y: number, edges: Float64Array): number => {
  const n = edges.length - 1
  const r = Math.hypot(x, y)
  if (!Number.isFinite(r) || r < edges[0]) return -1
  let jr = 0
  while (jr < n - 1 && r >= edges[jr + 1]) jr++
  let phi = Math.atan2(y, x)
  if (phi < 0) phi += 2 * Math.PI
  const jphi = Math.min(n - 1, Math.floor((phi / (2 * Math.PI)) * n))
  return jr * n + jphi
}
