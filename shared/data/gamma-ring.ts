/**
 * The Gamma ring of the paper's section 4.1: `φ ~ U(0, 2π)`, `r − 4 ~ Γ(α = 2, β = 2)` with `β` the
 * rate (mean radius 5), in Cartesian coordinates `(r cos φ, r sin φ)`.
 *
 * Its exact density is `p(x, y) = f_Γ(r − 4) / (2π r)`, its radial CDF `F(r) = F_Γ(r − 4)`, and the
 * radial quantile edges are the exact inverse of `F` (through the Lambert W function), not an
 * estimate from a large truth sample. Samples are drawn with the counter-based generator on the
 * fixed stream `RING_STREAM`, so a `(seed, N)` pair always gives the same set and the first `N'`
 * points of a larger set are the same points.
 */
import { checkRange, uniformsF64Ptr } from '../core/rng.ts'
import type { Core } from '../core/wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Inner edge of the ring: `r ≥ 4`. */
export const RING_RADIUS = 4
/** Gamma shape α. */
export const GAMMA_SHAPE = 2
/** Gamma rate β (mean of r − 4 is α/β = 1). */
export const GAMMA_RATE = 2
/** The generator stream of ring samples: ASCII "ring". */
export const RING_STREAM = 0x72696e67

const TWO_PI = 2 * Math.PI
const EPS = Number.EPSILON

// -------------------------------------------------------------------------------------
// Gamma(2, rate 2)
// -------------------------------------------------------------------------------------

/** Density of Γ(α = 2, rate 2): `f(u) = 4u e^{−2u}` for `u ≥ 0`, else 0. */
export const gammaPdf = (u: number): number =>
  u > 0 && u < Infinity ? 4 * u * Math.exp(-2 * u) : Number.isNaN(u) ? NaN : 0

/**
 * CDF of Γ(α = 2, rate 2): `F(u) = 1 − e^{−z}(1 + z)`, `z = 2u`. For `z < 1` it is summed as
 * `e^{−z} Σ_{k≥2} z^k/k!` to avoid the cancellation in `1 − (1 + z)e^{−z} ≈ z²/2`; relative error
 * a few ulp everywhere.
 */
export const gammaCdf = (u: number): number => {
  if (Number.isNaN(u)) return NaN
  if (u <= 0) return 0
  if (u === Infinity) return 1
  return cdfZ(2 * u)
}

/** Survival function `1 − F(u) = e^{−z}(1 + z)`, `z = 2u`, accurate in the far tail. */
export const gammaSurvival = (u: number): number => {
  if (Number.isNaN(u)) return NaN
  if (u <= 0) return 1
  if (u === Infinity) return 0
  const z = 2 * u
  return Math.exp(-z) * (1 + z)
}

/**
 * Quantile of Γ(α = 2, rate 2) for `p ∈ [0, 1]`: `p = 0 → 0`, `p = 1 → ∞`, NaN outside.
 *
 * ## Method
 * With `z = 2u`, `F(u) = p ⇔ (1 + z)e^{−z} = 1 − p =: q ⇔ −(1 + z)·e^{−(1 + z)} = −q/e`, so
 * `1 + z = −W₋₁(−q/e)` (lower branch, since `1 + z ≥ 1`). One or two Newton steps on the accurate
 * form (`F(z/2) = p` when `p ≤ ½`, `ln(1 + z) − z = ln q` above) remove the error that rounding
 * `−q/e` causes near the branch point; below `p = 10⁻⁶` the start is the series `z ≈ s + s²/3`,
 * `s = sqrt(2p)`.
 */
export const gammaQuantile = (p: number): number => {
  if (!(p >= 0 && p <= 1)) return NaN
  return solveQuantile(p, 1 - p)
}

/** Quantile from the upper tail probability `q = 1 − p ∈ [0, 1]`; accurate when q is tiny. */
export const gammaQuantileUpper = (q: number): number => {
  if (!(q >= 0 && q <= 1)) return NaN
  return solveQuantile(1 - q, q)
}

const cdfZ = (z: number): number => {
  if (z >= 1) return 1 - Math.exp(-z) * (1 + z)
  // e^z − 1 − z = Σ_{k≥2} z^k/k!, terms fall by ≥ 3× from k = 3 on (z < 1)
  let term = (z * z) / 2
  let sum = term
  for (let k = 3; term > EPS * 1e-3 * sum; k++) {
    term *= z / k
    sum += term
  }
  return Math.exp(-z) * sum
}

/** u with F(u) = p, given both p and q = 1 − p (one of them exact, the other its complement). */
const solveQuantile = (p: number, q: number): number => {
  if (p === 0) return 0
  if (q === 0) return Infinity
  let z: number
  if (p < 1e-6) {
    const s = Math.sqrt(2 * p)
    z = s + (s * s) / 3
  } else {
    z = -1 - lambertWm1(-q / Math.E)
  }
  for (let k = 0; k < 4 && z > 0; k++) {
    // Newton: on F(z) − p (F' = z e^{−z}) in the lower half, on ln(1 + z) − z − ln q (′ = −z/(1 + z))
    // in the upper half, where 1 − F is tiny and only the logarithmic form keeps its precision
    const dz =
      p <= 0.5 ? (cdfZ(z) - p) / (z * Math.exp(-z)) : ((Math.log1p(z) - z - Math.log(q)) * (1 + z)) / -z
    z -= dz
    if (Math.abs(dz) <= EPS * z) break
  }
  return z / 2
}

// -------------------------------------------------------------------------------------
// Lambert W, lower branch
// -------------------------------------------------------------------------------------

const INV_E = 1 / Math.E // 0.36787944117144233
const E_LO = 1.4456468917292502e-16 // e − Math.E

/**
 * The lower real branch `W₋₁(x)` of `w e^w = x`, for `x ∈ [−1/e, 0)`: `W₋₁(−1/e) = −1`,
 * `W₋₁(0⁻) = −∞`; NaN outside `[−1/e, 0]`.
 *
 * ## Method
 * Start: near the branch point (`x < −1/4`) the series `w ≈ −1 + p − p²/3 + 11p³/72 − 43p⁴/540`,
 * `p = −sqrt(2(1 + e x))`; elsewhere the asymptotic `w ≈ L₁ − L₂ + L₂/L₁`, `L₁ = ln(−x)`,
 * `L₂ = ln(−L₁)`. Then Halley's iteration (cubic convergence, 2–4 steps): near the branch point on
 * `f(w) = w e^w − x`, elsewhere on the logarithmic form `g(w) = w + ln(−w) − ln(−x)`, which neither
 * underflows for tiny `|x|` nor loses relative precision. The result satisfies `w e^w = x` to a few
 * ulp; near `−1/e` the condition number of W is unbounded, so only the residual is small there.
 */
export const lambertWm1 = (x: number): number => {
  if (!(x >= -INV_E && x <= 0)) return NaN
  if (x === 0) return -Infinity
  if (x === -INV_E) return -1
  let w: number
  if (x < -0.25) {
    // 1 + e·x with e split into Math.E + E_LO, so that the start is good to ~1e-8 at the branch point
    const d = Math.max(0, 1 + Math.E * x + E_LO * x)
    const p = -Math.sqrt(2 * d)
    w = -1 + p * (1 + p * (-1 / 3 + p * (11 / 72 - (43 / 540) * p)))
    for (let k = 0; k < 8; k++) {
      const ew = Math.exp(w)
      const f = w * ew - x
      const w1 = w + 1
      if (f === 0 || w1 === 0) break
      // Halley: w ← w − f / (f′ − f f″ / (2 f′)), f′ = e^w (w + 1), f″ = e^w (w + 2)
      const dw = f / (ew * w1 - ((w + 2) * f) / (2 * w1))
      w -= dw
      if (Math.abs(dw) <= 2 * EPS * Math.abs(w)) break
    }
    return Math.min(w, -1)
  }
  const l1 = Math.log(-x)
  const l2 = Math.log(-l1)
  w = l1 - l2 + l2 / l1
  const target = l1
  for (let k = 0; k < 8; k++) {
    // Halley on g(w) = w + ln(−w) − ln(−x): g′ = (w + 1)/w, g″ = −1/w²
    const g = w + Math.log(-w) - target
    const g1 = (w + 1) / w
    const dw = g / (g1 + g / (2 * w * w * g1))
    w -= dw
    if (Math.abs(dw) <= 2 * EPS * Math.abs(w)) break
  }
  return w
}

// -------------------------------------------------------------------------------------
// the ring
// -------------------------------------------------------------------------------------

/** Radial CDF of the ring: `P(R ≤ r) = F_Γ(r − 4)`. */
export const ringCdfRadius = (r: number): number => gammaCdf(r - RING_RADIUS)

/** Exact density `p(x, y) = f_Γ(r − 4) / (2π r)`, `r = sqrt(x² + y²)`. */
export const ringDensity = (x: number, y: number): number => {
  const r = Math.hypot(x, y)
  return r > RING_RADIUS ? gammaPdf(r - RING_RADIUS) / (TWO_PI * r) : Number.isNaN(r) ? NaN : 0
}

/**
 * The `n − 1` interior radial quantile edges `4 + Q(k/n)`, `k = 1 … n − 1`, increasing: every
 * radial bin (the first from 0, the last to ∞) has probability 1/n.
 */
export const radialEdges = (n: number): Float64Array => {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`radialEdges: n must be a positive integer, got ${n}`)
  const edges = new Float64Array(n - 1)
  for (let k = 1; k < n; k++) edges[k - 1] = RING_RADIUS + solveQuantile(k / n, (n - k) / n)
  return edges
}

/**
 * Truth probability of the polar bin `[r0, r1) × [φ0, φ1)` (`0 ≤ φ0 ≤ φ1 ≤ 2π`; r1 may be ∞):
 * `(F(r1) − F(r0)) · (φ1 − φ0) / 2π`.
 */
export const polarBinMass = (r0: number, r1: number, phi0: number, phi1: number): number => {
  // difference of survivals in the tail, where 1 − F is small and the CDFs would cancel
  const radial =
    r0 - RING_RADIUS >= 1
      ? gammaSurvival(r0 - RING_RADIUS) - gammaSurvival(r1 - RING_RADIUS)
      : ringCdfRadius(r1) - ringCdfRadius(r0)
  return (radial * (phi1 - phi0)) / TWO_PI
}

/**
 * Truth probability of bin `jr·n + jφ` of the `n × n` grid with interior radial edges `edges`
 * (the binning of shared/core/binning.ts).
 */
export const gridBinMass = (n: number, edges: ArrayLike<number>, bin: number): number => {
  const jr = Math.floor(bin / n)
  const jphi = bin % n
  const r0 = jr === 0 ? 0 : edges[jr - 1]
  const r1 = jr === n - 1 ? Infinity : edges[jr]
  return polarBinMass(r0, r1, (TWO_PI * jphi) / n, (TWO_PI * (jphi + 1)) / n)
}

// -------------------------------------------------------------------------------------
// sampling
// -------------------------------------------------------------------------------------

/** Points per generator call (bounds the scratch memory in the core). */
const CHUNK = 1 << 16

/**
 * The first `n` points of the ring data set of `seed`, row-major `[n, 2]` f32.
 *
 * Point `i` uses the f64 uniforms `U₀, U₁, U₂` of dimensions 0, 1, 2 of point `i` on stream
 * `RING_STREAM` under `seed`: `φ = 2π U₀`, `r = 4 − (ln U₁ + ln U₂)/2` (a sum of two Exp(rate 2) is
 * Γ(2, rate 2)), then `(r cos φ, r sin φ)` in f64, rounded to f32.
 *
 * @example
 * const train = sampleRing(core(), 3, 10_000) // training set of seed 3
 */
export const sampleRing = (core: Core, seed: number, n: number): Float32Array => sampleRingRange(core, seed, 0, n)

/** Points `[start, start + n)` of the ring data set of `seed` (row-major `[n, 2]` f32). */
export const sampleRingRange = (core: Core, seed: number, start: number, n: number): Float32Array => {
  const s = { seed, stream: RING_STREAM }
  checkRange(s, start, n, 3)
  const out = new Float32Array(2 * n)
  for (let from = 0; from < n; from += CHUNK) {
    const m = Math.min(CHUNK, n - from)
    core.scoped(() => {
      const p = core.allocF64(3 * m)
      uniformsF64Ptr(core, s, start + from, m, 3, p)
      const u = core.f64(p, 3 * m)
      for (let i = 0; i < m; i++) {
        const phi = TWO_PI * u[i]
        const r = RING_RADIUS - (Math.log(u[m + i]) + Math.log(u[2 * m + i])) / 2
        out[2 * (from + i)] = r * Math.cos(phi)
        out[2 * (from + i) + 1] = r * Math.sin(phi)
      }
    })
  }
  return out
}
