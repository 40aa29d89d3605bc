import { describe, expect, it } from 'vitest'
import { gammaQuantile } from '../../shared/data/gamma-ring.ts'
import { gridEdges, radialBinCentre, ringBin, truthPoints } from '../../shared/stats/ring.ts'

describe('ring', () => {
  it('gridEdges runs from 4 to ∞ through the exact quantiles; radialBinCentre is the probability midpoint', () => {
    expect(Array.from(gridEdges(2))).toEqual([4, 4 + gammaQuantile(0.5), Infinity])
    // median of Γ(2, rate 2) is 0.8391735… (solves e^{−u}(1 + u) = ½ at u = 1.678347…)
    expect(gridEdges(2)[1]).toBeCloseTo(4.8391735, 6)
    expect(radialBinCentre(0, 1)).toBe(gridEdges(2)[1])
  })

  it('truthPoints draws fill a 5 × 5 quantile grid evenly (χ² test) with mean radius 5', () => {
    // 20000 points, 25 bins: χ² over 24 degrees of freedom stays below 51.2 with probability 0.999
    const pts = truthPoints(20000, 3)
    const edges = gridEdges(5)
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
    const edges = gridEdges(2)
    expect(ringBin(edges[1], 0, edges)).toBe(2) // j_r = 1, φ = 0
    expect(ringBin(0, -4.1, edges)).toBe(1) // φ = 3π/2 → j_φ = 1
    expect(ringBin(3.9, 0, edges)).toBe(-1)
    expect(ringBin(NaN, 0, edges)).toBe(-1)
  })
})
