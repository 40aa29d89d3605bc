import { describe, expect, it } from 'vitest'
import { covers, ecdf, interval, quantile, sortedSample } from '../../shared/stats/ecdf.ts'

describe('ecdf', () => {
  // -------------------------------------------------------------------------------------
  // quantile
  // -------------------------------------------------------------------------------------

  it('quantile interpolates linearly between order statistics at positions (k − 1)/(m − 1)', () => {
    const x = sortedSample([30, 10, 20, 40, 50])
    // positions 0, ¼, ½, ¾, 1 → 10 … 50; p = 0.1 → h = 0.4 → 10 + 0.4·10
    expect(quantile(x, 0)).toBe(10)
    expect(quantile(x, 0.25)).toBe(20)
    expect(quantile(x, 0.5)).toBe(30)
    expect(quantile(x, 1)).toBe(50)
    expect(quantile(x, 0.1)).toBeCloseTo(14, 12)
    expect(quantile(x, 0.9)).toBeCloseTo(46, 12)
  })

  it('quantile clamps levels outside [0, 1] to the sample ends', () => {
    const x = sortedSample([1, 2, 3])
    expect(quantile(x, -0.5)).toBe(1)
    expect(quantile(x, 1.5)).toBe(3)
  })

  it('quantile of a single value is that value at every level', () => {
    for (const p of [0, 0.3, 1]) expect(quantile([7], p)).toBe(7)
  })

  it('quantile rejects an empty sample and a NaN level', () => {
    expect(() => quantile([], 0.5)).toThrow(/empty/)
    expect(() => quantile([1, 2], NaN)).toThrow(/NaN/)
    expect(() => sortedSample([1, NaN])).toThrow(/value 1 .* NaN/)
  })

  // -------------------------------------------------------------------------------------
  // ecdf
  // -------------------------------------------------------------------------------------

  it('ecdf is 0 below the sample, 1 at and above its maximum, linear between', () => {
    const x = sortedSample([10, 20, 30, 40, 50])
    expect(ecdf(x, 9.99)).toBe(0)
    expect(ecdf(x, 10)).toBe(0)
    expect(ecdf(x, 15)).toBeCloseTo(0.125, 14)
    expect(ecdf(x, 30)).toBeCloseTo(0.5, 14)
    expect(ecdf(x, 50)).toBe(1)
    expect(ecdf(x, 1e9)).toBe(1)
  })

  it('ecdf and quantile are inverse to each other between distinct values', () => {
    const x = sortedSample([3, 8, 8.5, 12, 40, 41])
    for (let p = 0; p <= 1; p += 0.05) expect(ecdf(x, quantile(x, p))).toBeCloseTo(Math.min(p, 1), 12)
  })

  it('ties: ecdf takes the largest position of a tie, quantile is flat across it', () => {
    // m = 5, positions 0, ¼, ½, ¾, 1; the value 2 occupies positions ¼ … ¾
    const x = sortedSample([2, 1, 2, 2, 5])
    expect(ecdf(x, 2)).toBeCloseTo(0.75, 14)
    expect(ecdf(x, 1.5)).toBeCloseTo(0.125, 14)
    expect(ecdf(x, 3.5)).toBeCloseTo(0.875, 14)
    for (const p of [0.25, 0.4, 0.5, 0.75]) expect(quantile(x, p)).toBe(2)
    // a sample of one repeated value: every interval is that value
    expect(interval([4, 4, 4], 0.9)).toEqual({ lo: 4, hi: 4 })
  })

  // -------------------------------------------------------------------------------------
  // interval
  // -------------------------------------------------------------------------------------

  it('interval(c → 1) is [min, max] and interval(0) is the median point', () => {
    const x = sortedSample([5, 1, 9, 3, 7])
    expect(interval(x, 1)).toEqual({ lo: 1, hi: 9 })
    expect(interval(x, 0)).toEqual({ lo: 5, hi: 5 })
    // c = ½: levels ¼ and ¾ → positions 1 and 3 exactly
    expect(interval(x, 0.5)).toEqual({ lo: 3, hi: 7 })
  })

  it('interval is closed and nested in c', () => {
    const x = sortedSample([1, 2, 4, 8, 16, 32])
    expect(covers(x, 1, 1)).toBe(true)
    expect(covers(x, 1, 32)).toBe(true)
    expect(covers(x, 1, 32.0001)).toBe(false)
    let prev = interval(x, 0)
    for (let c = 0.02; c <= 1; c += 0.02) {
      const cur = interval(x, c)
      expect(cur.lo).toBeLessThanOrEqual(prev.lo)
      expect(cur.hi).toBeGreaterThanOrEqual(prev.hi)
      prev = cur
    }
  })

  it('interval rejects levels outside [0, 1]', () => {
    expect(() => interval([1, 2], 1.01)).toThrow(/\[0, 1\]/)
    expect(() => interval([1, 2], -0.1)).toThrow(/\[0, 1\]/)
  })
})
