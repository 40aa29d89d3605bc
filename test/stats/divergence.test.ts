import { describe, expect, it } from 'vitest'
import {
  binomialExpectation,
  expectedTruthSetDivergence,
  jsDivergence,
  meanPredictionDivergence,
} from '../../shared/stats/divergence.ts'
import { sfc32 } from './random.ts'

describe('divergence', () => {
  // -------------------------------------------------------------------------------------
  // jsDivergence
  // -------------------------------------------------------------------------------------

  it('jsDivergence is 0 for equal histograms, log 2 for disjoint ones, and symmetric', () => {
    const p = [0.1, 0.2, 0.3, 0.4]
    expect(jsDivergence(p, p)).toBe(0)
    expect(jsDivergence([0.5, 0.5, 0, 0], [0, 0, 0.25, 0.75])).toBeCloseTo(Math.LN2, 15)
    const q = [0.25, 0.25, 0.4, 0.1]
    expect(jsDivergence(p, q)).toBeCloseTo(jsDivergence(q, p), 15)
    // hand value: ½ Σ p log(2p/(p+q)) + q log(2q/(p+q))
    let d = 0
    for (let j = 0; j < 4; j++) d += p[j] * Math.log((2 * p[j]) / (p[j] + q[j])) + q[j] * Math.log((2 * q[j]) / (p[j] + q[j]))
    expect(jsDivergence(p, q)).toBeCloseTo(d / 2, 15)
    expect(() => jsDivergence([1], [0.5, 0.5])).toThrow(/1 and 2 bins/)
  })

  it('meanPredictionDivergence normalizes the mean counts', () => {
    expect(meanPredictionDivergence([250, 250, 250, 250], [0.25, 0.25, 0.25, 0.25])).toBe(0)
    expect(meanPredictionDivergence([1, 0], [0, 1])).toBeCloseTo(Math.LN2, 15)
  })

  // -------------------------------------------------------------------------------------
  // expectedTruthSetDivergence
  // -------------------------------------------------------------------------------------

  it('binomialExpectation gives the binomial mean and variance', () => {
    for (const [n, q] of [
      [10, 0.3],
      [1000, 0.01],
      [100000, 0.5],
      [7, 1],
    ]) {
      expect(binomialExpectation(n, q, (k) => k)).toBeCloseTo(n * q, 8)
      expect(binomialExpectation(n, q, (k) => (k - n * q) ** 2) / (n * q * (1 - q) || 1)).toBeCloseTo(q === 1 ? 0 : 1, 8)
    }
  })

  it('expectedTruthSetDivergence equals the exact sum over all multinomial outcomes (N̂ = 4)', () => {
    // enumerate every (t1, t2, t3) with Σ = 4 and its multinomial probability
    const q = [0.5, 0.3, 0.2]
    const N = 4
    const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1))
    let e = 0
    for (let a = 0; a <= N; a++)
      for (let b = 0; a + b <= N; b++) {
        const c = N - a - b
        const prob = (fact(N) / (fact(a) * fact(b) * fact(c))) * q[0] ** a * q[1] ** b * q[2] ** c
        e += prob * jsDivergence([a / N, b / N, c / N], q)
      }
    expect(expectedTruthSetDivergence(4, q)).toBeCloseTo(e, 14)
    expect(expectedTruthSetDivergence(4.3, q)).toBeCloseTo(e, 14) // rounded to a whole set
  })

  it('expectedTruthSetDivergence agrees with multinomial draws on a quantile grid', () => {
    // 25 equal bins, N̂ = 2000: 4000 simulated sets; the JS divergence of one set has a spread of
    // about its mean, so the Monte Carlo mean is within 4·sd/√4000 ≈ 6% of the exact value
    const bins = 25
    const N = 2000
    const q = new Array(bins).fill(1 / bins)
    const u = sfc32(11)
    const R = 4000
    const values: number[] = []
    for (let r = 0; r < R; r++) {
      const t = new Array(bins).fill(0)
      for (let i = 0; i < N; i++) t[Math.floor(u() * bins)]++
      values.push(jsDivergence(t.map((v) => v / N), q))
    }
    const mean = values.reduce((a, v) => a + v) / R
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (R - 1))
    const exact = expectedTruthSetDivergence(N, q)
    expect(Math.abs(exact - mean)).toBeLessThan((4 * sd) / Math.sqrt(R))
    // leading order: E D_JS ≈ (bins − 1)/(8N) for a multinomial against its own probabilities
    expect(exact / ((bins - 1) / (8 * N))).toBeCloseTo(1, 1)
  })
})
