import { describe, expect, it } from 'vitest'
import { radialCdf, radialEdges, radialQuantile, ringBin, sampleRing } from '../../shared/stats/ring.ts'

describe('ring', () => {
  it('radialQuantile inverts the Γ(2, rate 2) CDF 1 − e^{−2s}(1 + 2s)', () => {
    for (const p of [1e-9, 0.01, 0.2, 0.5, 0.9, 0.999999]) expect(radialCdf(radialQuantile(p))).toBeCloseTo(p, 13)
    // median of Γ(2, rate 2) is 0.8391735... (solves e^{−u}(1 + u) = ½ at u = 1.678347…)
    expect(radialQuantile(0.5)).toBeCloseTo(4.8391735, 6)
    expect(radialQuantile(0)).toBe(4)
    expect(radialQuantile(1)).toBe(Infinity)
    expect(Array.from(radialEdges(2))).toEqual([4, radialQuantile(0.5), Infinity])
  })

  it('sampleRing draws fill a 5 × 5 quantile grid evenly (χ² test) with mean radius 5', () => {
    // 20000 points, 25 bins: χ² over 24 degrees of freedom stays below 51.2 with probability 0.999
    const pts = sampleRing(20000, 3)
    const edges = radialEdges(5)
    const hist = new Array(25).fill(0)
    let rsum = 0
    for (let i = 0; i < 20000; i++) {
      const b = ringBin(pts[2 * i], pts[2 * i + 1], edges)
      expect(b).toBeGreaterThanOrEqual(0)
      hist[b]++
      rsum += Math.hypot(pts[2 * i], pts[2 * i + 1])
    }
    const chi2 = hist.reduce((a, h) => a + (h - 800) ** 2 / 800, 0)
    expect(chi2).toBeLessThan(51.2)
    // E r = 4 + α/β = 5, sd(r) = √2/2: 4.5 standard errors of the mean ≈ 0.0225
    expect(Math.abs(rsum / 20000 - 5)).toBeLessThan(0.0225)
  })

  it('ringBin puts a point on an edge in the upper bin and rejects r < 4', () => {
    const edges = radialEdges(2)
    expect(ringBin(edges[1], 0, edges)).toBe(2) // j_r = 1, φ = 0
    expect(ringBin(0, -4.1, edges)).toBe(1) // φ = 3π/2 → j_φ = 1
    expect(ringBin(3.9, 0, edges)).toBe(-1)
    expect(ringBin(NaN, 0, edges)).toBe(-1)
  })
})
