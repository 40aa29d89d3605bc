import { describe, expect, it } from 'vitest'
import { Binner } from '../shared/core/binning.ts'
import { Core } from '../shared/core/wasm.ts'
import {
  RING_RADIUS,
  gammaCdf,
  gammaPdf,
  gammaQuantile,
  gammaQuantileUpper,
  gammaSurvival,
  gridBinMass,
  lambertWm1,
  polarBinMass,
  radialEdges,
  ringCdfRadius,
  ringDensity,
  sampleRing,
  sampleRingRange,
} from '../shared/data/gamma-ring.ts'
import { KS_CRITICAL_0_001, ksStatistic } from './reference/stats.ts'

const c = new Core('simd')
const EPS = Number.EPSILON

/** Composite Simpson rule of f over [a, b] with m (even) intervals. */
const simpson = (f: (x: number) => number, a: number, b: number, m: number): number => {
  const h = (b - a) / m
  let s = f(a) + f(b)
  for (let k = 1; k < m; k++) s += (k % 2 === 1 ? 4 : 2) * f(a + k * h)
  return (s * h) / 3
}

describe('gamma-ring', () => {
  // -------------------------------------------------------------------------------------
  // Gamma(2, rate 2)
  // -------------------------------------------------------------------------------------

  it('gammaCdf equals the numerical integral of gammaPdf', () => {
    // Simpson with m intervals, h = u/m: error ≤ u·h⁴·max|f⁽⁴⁾|/180, where
    // f⁽⁴⁾(u) = 4(16u − 32)e^{−2u} has |f⁽⁴⁾| ≤ 128; plus 1e-15 for rounding
    const m = 4000
    for (const u of [0.01, 0.1, 0.5, 1, 2, 4, 8]) {
      const bound = (u * (u / m) ** 4 * 128) / 180 + 1e-15
      expect(Math.abs(gammaCdf(u) - simpson(gammaPdf, 0, u, m))).toBeLessThanOrEqual(bound)
    }
    // and its complement
    for (const u of [0.3, 3, 30]) expect(Math.abs(gammaSurvival(u) + gammaCdf(u) - 1)).toBeLessThanOrEqual(2 * EPS)
  })

  it('gammaCdf keeps its relative precision near 0', () => {
    // F(u) = 1 − (1 + z)e^{−z} = Σ_{k≥2} (−1)^k (k − 1) z^k / k!, z = 2u; terms to k = 8 leave a
    // relative remainder below z⁷ < 1e-18 at z ≤ 0.002; compare to 4 ulp
    for (const u of [1e-3, 1e-6, 1e-9, 1e-150]) {
      const z = 2 * u
      let series = 0
      let zk = z
      let factorial = 1
      for (let k = 2; k <= 8; k++) {
        zk *= z
        factorial *= k
        series += ((-1) ** k * (k - 1) * zk) / factorial
      }
      expect(Math.abs(gammaCdf(u) / series - 1)).toBeLessThanOrEqual(4 * EPS)
    }
    expect(gammaCdf(Infinity)).toBe(1)
    expect(gammaSurvival(Infinity)).toBe(0)
    expect(gammaPdf(Infinity)).toBe(0)
    expect(gammaCdf(0)).toBe(0)
    expect(gammaCdf(-1)).toBe(0)
    expect(gammaPdf(-1)).toBe(0)
  })

  it('gammaQuantile inverts gammaCdf to 1e-12', () => {
    for (let k = 0; k <= 600; k++) {
      const u = k / 100
      expect(Math.abs(gammaQuantile(gammaCdf(u)) - u)).toBeLessThanOrEqual(1e-12)
    }
    // tiny probabilities: u ≈ sqrt(p/2)
    for (const u of [1e-4, 1e-7, 1e-10]) expect(Math.abs(gammaQuantile(gammaCdf(u)) / u - 1)).toBeLessThan(1e-12)
  })

  it('gammaQuantileUpper inverts gammaSurvival deep in the tail', () => {
    // for u ≥ 1, q = 1 − F ≤ 0.41 is represented to relative ε and u = Q(q) has condition
    // |d ln u / d ln q| = (1 + z)/(z·z) ≤ 0.75, so a few ulp are attainable: allow 1e-14
    for (let u = 1; u < 350; u *= 1.1)
      expect(Math.abs(gammaQuantileUpper(gammaSurvival(u)) / u - 1)).toBeLessThan(1e-14)
  })

  it('gammaQuantile special values', () => {
    // median of Γ(2, 1) is 1.678346990016661 (e.g. scipy.stats.gamma(2).median()); rate 2 halves it
    expect(gammaQuantile(0.5)).toBeCloseTo(1.678346990016661 / 2, 14)
    expect(gammaQuantile(0)).toBe(0)
    expect(gammaQuantile(1)).toBe(Infinity)
    expect(gammaQuantileUpper(0)).toBe(Infinity)
    expect(gammaQuantile(-0.1)).toBeNaN()
    expect(gammaQuantile(1.1)).toBeNaN()
    expect(gammaQuantile(NaN)).toBeNaN()
  })

  // -------------------------------------------------------------------------------------
  // Lambert W₋₁
  // -------------------------------------------------------------------------------------

  it('lambertWm1 satisfies w e^w = x on the lower branch', () => {
    const xs: number[] = []
    for (let k = 1; k < 2000; k++) xs.push(-k / 2000 / Math.E)
    for (let k = 1; k <= 300; k++) xs.push(-(10 ** -k))
    for (const x of xs) {
      const w = lambertWm1(x)
      expect(w).toBeLessThanOrEqual(-1)
      // relative residual: e^w carries the rounding of w amplified by |w|, hence 4ε(1 + |w|)
      expect(Math.abs(w * Math.exp(w) - x)).toBeLessThanOrEqual(4 * EPS * (1 + Math.abs(w)) * Math.abs(x))
      // the logarithmic form w + ln(−w) = ln(−x) stays exact where e^w loses precision
      expect(Math.abs(w + Math.log(-w) - Math.log(-x))).toBeLessThanOrEqual(4 * EPS * Math.abs(w))
    }
  })

  it('lambertWm1 known values and domain', () => {
    // W₋₁(−0.1) = −3.5771520639572972184 (Corless et al. 1996; mpmath.lambertw(-0.1, -1))
    expect(Math.abs(lambertWm1(-0.1) / -3.5771520639572972 - 1)).toBeLessThanOrEqual(4 * EPS)
    expect(lambertWm1(-1 / Math.E)).toBe(-1)
    expect(lambertWm1(0)).toBe(-Infinity)
    expect(lambertWm1(-0.5)).toBeNaN()
    expect(lambertWm1(0.1)).toBeNaN()
  })

  // -------------------------------------------------------------------------------------
  // the ring
  // -------------------------------------------------------------------------------------

  it('radialEdges are increasing and give every radial bin mass 1/n', () => {
    expect(radialEdges(1)).toHaveLength(0)
    for (const n of [2, 5, 10, 37, 100]) {
      const e = radialEdges(n)
      expect(e).toHaveLength(n - 1)
      expect(e[0]).toBeGreaterThan(RING_RADIUS)
      for (let k = 1; k < n - 1; k++) expect(e[k]).toBeGreaterThan(e[k - 1])
      // F(e_k) = k/n to a few ulp (the quantile's round-trip precision)
      for (let k = 1; k < n; k++) expect(Math.abs(ringCdfRadius(e[k - 1]) - k / n)).toBeLessThanOrEqual(8 * EPS)
      // each of the n² quantile bins has mass 1/n²
      for (let bin = 0; bin < n * n; bin += 7) expect(gridBinMass(n, e, bin)).toBeCloseTo(1 / (n * n), 14)
    }
    expect(() => radialEdges(0)).toThrow(/positive integer/)
  })

  it('ringDensity integrates to 1 over the plane', () => {
    // Midpoint rule on [−L, L]², L = 30 (outside mass e^{−52}·53 ≈ 3e-21); the density is
    // continuous with a kink on r = 4, so the error is O(h²) with a lattice-dependent constant:
    // at h = 0.06 it is 5e-5 here and stays below 5e-5 for h = 0.015 … 0.06. Allow 2e-4.
    const L = 30
    const m = 1000
    const h = (2 * L) / m
    let s = 0
    for (let i = 0; i < m; i++) {
      const x = -L + (i + 0.5) * h
      for (let j = 0; j < m; j++) s += ringDensity(x, -L + (j + 0.5) * h)
    }
    expect(Math.abs(s * h * h - 1)).toBeLessThan(2e-4)
    expect(ringDensity(3.9, 0)).toBe(0)
    expect(ringDensity(0, 5)).toBeCloseTo(gammaPdf(1) / (2 * Math.PI * 5), 15)
  })

  it('polarBinMass of a full grid sums to 1 and matches the density integral', () => {
    const e = [4.5, 5, 6]
    let total = 0
    for (let bin = 0; bin < 16; bin++) total += gridBinMass(4, e, bin)
    expect(total).toBeCloseTo(1, 14)
    // ∫_{4.5}^{5} ∫_{0}^{π/3} p(r cos φ, r sin φ) r dφ dr by Simpson in r (the φ-integral is exact:
    // p is isotropic)
    const radial = simpson((r) => ringDensity(r, 0) * r * (Math.PI / 3), 4.5, 5, 200)
    expect(polarBinMass(4.5, 5, 0, Math.PI / 3)).toBeCloseTo(radial, 12)
  })

  // -------------------------------------------------------------------------------------
  // sampling
  // -------------------------------------------------------------------------------------

  const N = 100_000
  const sample = sampleRing(c, 11, N)
  const radius = (p: Float32Array) =>
    Float64Array.from({ length: p.length / 2 }, (_, i) => Math.hypot(p[2 * i], p[2 * i + 1]))

  it('sampleRing is a pure function of (seed, N), prefixes agree, seeds differ', () => {
    // element-wise comparison: toEqual on 2·10^5 floats is slow
    const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, k) => v === b[k])
    expect(same(sampleRing(c, 11, N), sample)).toBe(true)
    expect(same(sampleRing(c, 11, 1234), sample.subarray(0, 2 * 1234))).toBe(true)
    expect(same(sampleRingRange(c, 11, 70_000, 100), sample.subarray(140_000, 140_200))).toBe(true)
    expect(sample.every(Number.isFinite)).toBe(true)
    const other = sampleRing(c, 12, 1000)
    expect(other.filter((v, k) => v === sample[k]).length).toBeLessThan(3)
    expect(() => sampleRing(c, -1, 10)).toThrow(/seed/)
  })

  it('sampled radii pass a Kolmogorov–Smirnov test against the radial CDF', () => {
    const r = radius(sample)
    // f32 rounding of (x, y) moves r by ≤ 2^-24·r relative; r ≥ 4 up to that rounding
    expect(Math.min(...r)).toBeGreaterThanOrEqual(RING_RADIUS * (1 - 2 ** -23))
    expect(Math.sqrt(N) * ksStatistic(r, ringCdfRadius)).toBeLessThan(KS_CRITICAL_0_001)
  })

  it('sampled angles are uniform on [0, 2π)', () => {
    const phi = Float64Array.from({ length: N }, (_, i) => {
      const a = Math.atan2(sample[2 * i + 1], sample[2 * i])
      return a < 0 ? a + 2 * Math.PI : a
    })
    expect(Math.sqrt(N) * ksStatistic(phi, (a) => a / (2 * Math.PI))).toBeLessThan(KS_CRITICAL_0_001)
  })

  it('a sample binned into quantile grids passes a χ² test of equal occupancy', () => {
    // χ² with n² − 1 degrees of freedom; 0.999 quantiles: 51.18 (24 dof), 148.2 (99 dof)
    const grids = [5, 10].map((n) => ({ n, radialEdges: radialEdges(n), limit: N }))
    const b = new Binner(c, grids)
    b.accumulate(sample, 0)
    const critical = [51.18, 148.2]
    b.counts().forEach((counts, g) => {
      const expected = N / counts.length
      const chi2 = counts.reduce((s, k) => s + (k - expected) ** 2 / expected, 0)
      expect(chi2).toBeLessThan(critical[g])
    })
    expect(b.invalid()).toEqual([0, 0])
  })
})
