/**
 * The Gamma ring of the paper (section 4.1): φ ~ U(0, 2π), r − 4 ~ Γ(α = 2, rate β = 2), and its
 * n × n quantile grid (section 4.3): n radial bins of equal probability and n equal angular bins.
 * Used by the reducer for the radial position of a bin and by figure 1 for truth points.
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Inner edge of the ring: r ≥ R0. */
export const R0 = 4

/** Γ(2, rate 2) CDF of s = r − 4: F(s) = 1 − e^{−2s}(1 + 2s) for s ≥ 0, else 0. */
export const radialCdf = (r: number): number => {
  const u = 2 * (r - R0)
  return u <= 0 ? 0 : -Math.expm1(-u) - u * Math.exp(-u)
}

/**
 * F⁻¹(p): the radius below which the ring has probability p ∈ [0, 1] (p = 1 → ∞).
 *
 * Solves G(u) = 1 − e^{−u}(1 + u) = p for u = 2(r − 4) by Newton's method (G'(u) = u e^{−u}),
 * safeguarded by a bracket kept by bisection; stops when the bracket is within 4 ulp of u, so the
 * result is exact to about 1e−15 relative.
 */
export const radialQuantile = (p: number): number => {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`radialQuantile: probability must lie in [0, 1], got ${p}`)
  if (p === 0) return R0
  if (p === 1) return Infinity
  const G = (u: number) => -Math.expm1(-u) - u * Math.exp(-u)
  // bracket [lo, hi] with G(lo) < p ≤ G(hi)
  let lo = 0
  let hi = 1
  while (G(hi) < p) hi *= 2
  let u = 0.5 * (lo + hi)
  for (let it = 0; it < 200; it++) {
    const g = G(u) - p
    if (g < 0) lo = u
    else hi = u
    const step = g / (u * Math.exp(-u))
    let next = u - step
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi)
    if (Math.abs(next - u) <= 4 * Number.EPSILON * Math.max(1, u)) return R0 + next / 2
    u = next
  }
  return R0 + u / 2
}

/** The n + 1 radial edges of an n-bin quantile grid: F⁻¹(k/n), k = 0 … n (last is ∞). */
export const radialEdges = (n: number): Float64Array => {
  const edges = new Float64Array(n + 1)
  for (let k = 0; k <= n; k++) edges[k] = radialQuantile(k / n)
  return edges
}

/** The radius at the probability midpoint of radial bin j of n: F⁻¹((j + ½)/n). */
export const radialBinCentre = (j: number, n: number): number => radialQuantile((j + 0.5) / n)

// -------------------------------------------------------------------------------------
// sampling
// -------------------------------------------------------------------------------------

/**
 * A small seeded uniform generator local to this module (mulberry32: a 32-bit Weyl sequence
 * through a xorshift-multiply mixer; period 2³²). Good enough for a figure's scatter of truth
 * points; it is not the project's Philox stream and nothing statistical depends on it.
 * Returns uniforms in (0, 1): never 0, so log u is finite.
 */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296
  }
}

/**
 * `count` exact draws from the ring, as interleaved [x, y] pairs. Γ(2, rate 2) is the sum of two
 * Exp(rate 2) draws: s = −(ln u₁ + ln u₂)/2; φ = 2π u₃.
 */
export const sampleRing = (count: number, seed: number): Float64Array => {
  const u = mulberry32(seed)
  const out = new Float64Array(2 * count)
  for (let i = 0; i < count; i++) {
    const r = R0 - 0.5 * (Math.log(u()) + Math.log(u()))
    const phi = 2 * Math.PI * u()
    out[2 * i] = r * Math.cos(phi)
    out[2 * i + 1] = r * Math.sin(phi)
  }
  return out
}

/**
 * The bin (j_r, j_φ) of the point (x, y) in the n × n quantile grid, as j_r·n + j_φ: radial bins
 * right-open with the last open-ended, φ = atan2(y, x) mapped to [0, 2π). −1 for r < 4 (outside
 * the support) or a non-finite point.
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
