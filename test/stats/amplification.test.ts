import { describe, expect, it } from 'vitest'
import { amplification, binEstimates, powerLawFit } from '../../shared/stats/amplification.ts'
import { quantileSeedCounts } from '../../shared/stats/posterior.ts'
import { normal, sfc32 } from './random.ts'

describe('amplification', () => {
  // -------------------------------------------------------------------------------------
  // binEstimates
  // -------------------------------------------------------------------------------------

  it('binEstimates gives t̂_j = ḡ²/σ² exactly for counts of known variance', () => {
    // bin j: samples μ_j ± d_j (half each) → ḡ = μ_j, σ² = d_j² exactly (population variance)
    const mu = [1000, 400, 90]
    const d = [10, 5, 3]
    const m = 4
    const counts = new Float64Array(m * 3)
    for (let i = 0; i < m; i++) for (let j = 0; j < 3; j++) counts[i * 3 + j] = mu[j] + (i % 2 === 0 ? d[j] : -d[j])
    const e = binEstimates(quantileSeedCounts(0, m, 3, counts))
    expect(Array.from(e.mean)).toEqual(mu)
    expect(Array.from(e.variance)).toEqual([100, 25, 9])
    expect(Array.from(e.t)).toEqual([10000, 6400, 900])
    expect(e.nHat).toBe(17300)
    expect(e.degenerate).toBe(0)
    const v = binEstimates(quantileSeedCounts(0, m, 3, counts), 'variance')
    expect(Array.from(v.t)).toEqual([100, 25, 9])
    expect(v.nHat).toBe(134)
  })

  it('binEstimates leaves bins of zero spread out of N̂ and counts them', () => {
    const counts = Float64Array.of(5, 10, 5, 12) // bin 0 constant, bin 1 11 ± 1
    const e = binEstimates(quantileSeedCounts(0, 2, 2, counts))
    expect(Number.isNaN(e.t[0])).toBe(true)
    expect(e.t[1]).toBe(121)
    expect(e.nHat).toBe(121)
    expect(e.degenerate).toBe(1)
  })

  // -------------------------------------------------------------------------------------
  // amplification
  // -------------------------------------------------------------------------------------

  it('amplification is Σ t̂ / N per seed, averaged with the sample spread', () => {
    // seed s: 2 bins, each 100 ± (s + 1) → t̂ = 10⁴/(s + 1)² per bin
    const seeds = [0, 1].map((s) => quantileSeedCounts(s, 2, 2, Float64Array.of(101 + s, 101 + s, 99 - s, 99 - s)))
    const a = amplification(seeds, 100)
    expect(Array.from(a.nHat)).toEqual([20000, 5000])
    expect(Array.from(a.perSeed)).toEqual([200, 50])
    expect(Array.from(a.perBinPerSeed)).toEqual([10000, 2500])
    expect(a.amplification.mean).toBe(125)
    // sample std of {200, 50}: |200 − 50|/√2
    expect(a.amplification.std).toBeCloseTo(150 / Math.SQRT2, 10)
    expect(() => amplification(seeds, 0)).toThrow(/training size/)
  })

  // -------------------------------------------------------------------------------------
  // powerLawFit
  // -------------------------------------------------------------------------------------

  it('powerLawFit recovers a′ and b of an exact power law from its last 8 points, with zero errors', () => {
    const x = [4, 9, 16, 25, 100, 400, 1600, 4900, 10000, 22500, 40000]
    const y = x.map((v) => 0.012 * v ** 0.99)
    // a deviating head that the last-8 rule must ignore
    y[0] *= 10
    y[1] *= 5
    y[2] *= 3
    const f = powerLawFit(x, y)
    expect(f.aPrime).toBeCloseTo(0.012, 12)
    expect(f.b).toBeCloseTo(0.99, 12)
    expect(f.bErr).toBeLessThan(1e-7)
    expect(f.aPrimeErr).toBeLessThan(1e-9)
    expect(Array.from(f.x)).toEqual(x.slice(3))
  })

  it('powerLawFit errors match the scatter of the estimates for log-normal noise', () => {
    // y = 2·x^1.5·e^{τz}, z ~ N(0, 1): the OLS estimates are unbiased with sd(b) = τ/√Sxx and
    // sd(a) = τ√(1/k + x̄²/Sxx); over R = 2000 replicates the mean reported variance and the
    // empirical variance of the estimates agree with these within 8% (the sd of a variance
    // estimate from R draws is √(2/R) ≈ 3%, and s² has k − 2 = 6 degrees of freedom, 0.58/√R ≈ 1.3%).
    const x = [10, 20, 50, 100, 200, 500, 1000, 2000]
    const lx = x.map(Math.log)
    const mx = lx.reduce((a, v) => a + v) / 8
    const sxx = lx.reduce((a, v) => a + (v - mx) ** 2, 0)
    const tau = 0.1
    const z = normal(sfc32(7))
    const R = 2000
    let bSum = 0
    let bSq = 0
    let aSq = 0
    let bErr2 = 0
    let aErr2 = 0
    for (let r = 0; r < R; r++) {
      const f = powerLawFit(x, x.map((v) => 2 * v ** 1.5 * Math.exp(tau * z())))
      bSum += f.b
      bSq += (f.b - 1.5) ** 2
      aSq += (f.a - Math.log(2)) ** 2
      bErr2 += f.bErr ** 2
      aErr2 += f.aErr ** 2
    }
    const varB = tau ** 2 / sxx
    const varA = tau ** 2 * (1 / 8 + mx ** 2 / sxx)
    expect(Math.abs(bSum / R - 1.5)).toBeLessThan(4 * Math.sqrt(varB / R))
    expect(bSq / R / varB).toBeGreaterThan(0.92)
    expect(bSq / R / varB).toBeLessThan(1.08)
    expect(aSq / R / varA).toBeGreaterThan(0.92)
    expect(aSq / R / varA).toBeLessThan(1.08)
    expect(bErr2 / R / varB).toBeGreaterThan(0.95)
    expect(bErr2 / R / varB).toBeLessThan(1.05)
    expect(aErr2 / R / varA).toBeGreaterThan(0.95)
    expect(aErr2 / R / varA).toBeLessThan(1.05)
  })

  it('powerLawFit rejects non-positive points and too few points', () => {
    expect(() => powerLawFit([1, 2], [1, -1])).toThrow(/not positive/)
    expect(() => powerLawFit([1], [1])).toThrow(/at least 2/)
    expect(() => powerLawFit([1, 2], [1])).toThrow(/2 x values but 1/)
  })
})
