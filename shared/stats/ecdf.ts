/**
 * The empirical CDF of one bin's posterior counts with linear interpolation (paper eq. 5.1), its
 * inverse, and the symmetric interval (eq. 5.2).
 *
 * ## Method
 * For the m values sorted, x₍₁₎ ≤ … ≤ x₍ₘ₎, the order statistic x₍ₖ₎ sits at the plotting position
 * pₖ = (k − 1)/(m − 1) (Hyndman & Fan type 7, numpy's `quantile(method='linear')`), and the CDF is
 * the piecewise-linear function through the points (x₍ₖ₎, pₖ):
 *
 *   F̂(x) = 0 for x < x₍₁₎,  F̂(x) = 1 for x ≥ x₍ₘ₎,  linear between neighbouring distinct values.
 *
 * The inverse, for p ∈ [0, 1], is h := (m − 1)·p, k := ⌊h⌋, F̂⁻¹(p) = x₍ₖ₊₁₎ + (h − k)(x₍ₖ₊₂₎ − x₍ₖ₊₁₎).
 *
 * ## Ties and ends
 * - Ties: a value shared by x₍ₖ₎ … x₍ₗ₎ makes F̂ jump there; F̂ is taken right-continuous, so
 *   F̂(x₍ₖ₎) = pₗ, the largest position of the tie (like the step ECDF). F̂⁻¹ is flat, equal to the
 *   tied value, on [pₖ, pₗ], so F̂⁻¹(F̂(x)) = x at every sample value.
 * - Ends: F̂⁻¹(0) = x₍₁₎ and F̂⁻¹(1) = x₍ₘ₎; p outside [0, 1] is clamped. So c → 1 gives the
 *   interval [min, max] of the samples and c = 0 the degenerate interval [median, median].
 * - m = 1: F̂⁻¹ is the single value for every p; the interval is that point for every c.
 * - Intervals are closed: a truth t is covered when lo ≤ t ≤ hi.
 *
 * ## Notes
 * With these positions a truth exchangeable with the m samples (a perfectly calibrated posterior)
 * falls in I(c) with probability c·(m − 1)/(m + 1) (exact when the values are uniform between order
 * statistics, up to 1/(m + 1) otherwise): the finite-sample shortfall of the paper's construction,
 * which vanishes as m grows. It is kept as the paper defines it, not corrected.
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A closed interval [lo, hi]. */
export interface Interval {
  readonly lo: number
  readonly hi: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The values sorted ascending, as a new Float64Array. Throws on NaN (a count is never NaN). */
export const sortedSample = (values: ArrayLike<number>): Float64Array => {
  const x = Float64Array.from(values)
  for (let i = 0; i < x.length; i++)
    if (Number.isNaN(x[i])) throw new RangeError(`ecdf: value ${i} of the sample is NaN`)
  return x.sort()
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * F̂(x) of eq. 5.1 for the ascending `sorted` sample (see the module notes for ties and ends).
 * Throws on an empty sample.
 */
export const ecdf = (sorted: ArrayLike<number>, x: number): number => {
  const m = sorted.length
  if (m === 0) throw new RangeError('ecdf: the sample is empty')
  if (x < sorted[0]) return 0
  if (x >= sorted[m - 1]) return 1
  // l := the last index with x₍ₗ₎ ≤ x (binary search; 0 ≤ l < m − 1 here)
  let lo = 0
  let hi = m - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] <= x) lo = mid
    else hi = mid
  }
  const l = lo
  // x₍ₗ₎ ≤ x < x₍ₗ₊₁₎: interpolate between the positions l/(m − 1) and (l + 1)/(m − 1)
  const a = sorted[l]
  const b = sorted[l + 1]
  return (l + (x - a) / (b - a)) / (m - 1)
}

/**
 * F̂⁻¹(p) for the ascending `sorted` sample: the type-7 quantile, p clamped to [0, 1].
 * Throws on an empty sample or a NaN level.
 */
export const quantile = (sorted: ArrayLike<number>, p: number): number => {
  const m = sorted.length
  if (m === 0) throw new RangeError('quantile: the sample is empty')
  if (Number.isNaN(p)) throw new RangeError('quantile: the level is NaN')
  if (m === 1 || p <= 0) return sorted[0]
  if (p >= 1) return sorted[m - 1]
  // h := (m − 1)·p, k := ⌊h⌋ (0 ≤ k ≤ m − 2)
  const h = (m - 1) * p
  const k = Math.min(Math.floor(h), m - 2)
  const a = sorted[k]
  const b = sorted[k + 1]
  // a + (h − k)(b − a), written so that a tie (b = a) returns a exactly
  return a === b ? a : a + (h - k) * (b - a)
}

/** The symmetric interval I(c) = [F̂⁻¹(½ − c/2), F̂⁻¹(½ + c/2)] of eq. 5.2; c ∈ [0, 1]. */
export const interval = (sorted: ArrayLike<number>, c: number): Interval => {
  if (!(c >= 0 && c <= 1)) throw new RangeError(`interval: the confidence level must lie in [0, 1], got ${c}`)
  return { lo: quantile(sorted, 0.5 - c / 2), hi: quantile(sorted, 0.5 + c / 2) }
}

/** Whether the closed interval I(c) of the sorted sample contains t. */
export const covers = (sorted: ArrayLike<number>, c: number, t: number): boolean => {
  const { lo, hi } = interval(sorted, c)
  return lo <= t && t <= hi
}
