import { describe, expect, it } from 'vitest'
import { coverage, marginalCoverage, nominalLevels, type Coverage } from '../../shared/stats/coverage.ts'
import { quantileSeedCounts, type SeedCounts } from '../../shared/stats/posterior.ts'
import { sfc32 } from './random.ts'

/**
 * Seeds whose truth is inside the posterior spread by construction: per seed and bin a centre
 * μ = t + ε, ε ~ U(−w, w), and m samples μ + U(−k·w, k·w). With k = 1 the truth is exchangeable
 * with the samples; k < 1 is overconfident, k > 1 underconfident. The values are not integers:
 * the statistics take any real counts, and continuous values keep ties away.
 */
const syntheticSeeds = (opts: { seeds: number; samples: number; bins: number; k: number; seed: number }): SeedCounts[] => {
  const u = sfc32(opts.seed)
  const truth = 1000
  const w = 30
  const out: SeedCounts[] = []
  for (let s = 0; s < opts.seeds; s++) {
    const counts = new Float64Array(opts.samples * opts.bins)
    for (let j = 0; j < opts.bins; j++) {
      const mu = truth + w * (2 * u() - 1)
      for (let i = 0; i < opts.samples; i++) counts[i * opts.bins + j] = mu + opts.k * w * (2 * u() - 1)
    }
    const sc = quantileSeedCounts(s, opts.samples, opts.bins, counts)
    out.push({ ...sc, truth: new Float64Array(opts.bins).fill(truth) })
  }
  return out
}

describe('coverage', () => {
  // -------------------------------------------------------------------------------------
  // nominalLevels
  // -------------------------------------------------------------------------------------

  it('nominalLevels spans [0, 1] with both ends', () => {
    const c = nominalLevels()
    expect(c.length).toBe(50)
    expect(c[0]).toBe(0)
    expect(c[49]).toBe(1)
    expect(c[1]).toBeCloseTo(1 / 49, 15)
    expect(() => nominalLevels(1)).toThrow(/count/)
  })

  // -------------------------------------------------------------------------------------
  // coverage
  // -------------------------------------------------------------------------------------

  it('coverage counts seeds whose closed interval holds the truth (hand example)', () => {
    // one bin, truth 10; seed 0 samples {8, 9, 12} → I(1) = [8, 12] holds 10, I(0) = [9, 9] does not;
    // seed 1 samples {10, 11, 13} → I(1) = [10, 13] holds 10 (closed), I(0) = [11, 11] does not;
    // I(½) = [F̂⁻¹(¼), F̂⁻¹(¾)]: seed 0 [8.5, 10.5] holds, seed 1 [10.5, 12] does not
    const mk = (seed: number, v: number[]): SeedCounts => ({
      ...quantileSeedCounts(seed, 3, 1, Float64Array.from(v)),
      truth: Float64Array.of(10),
    })
    const cov = coverage([mk(0, [12, 8, 9]), mk(1, [10, 13, 11])], Float64Array.of(0, 0.5, 1))
    expect(Array.from(cov.mean)).toEqual([0, 0.5, 1])
    expect(cov.md).toBeCloseTo(0, 15)
    expect(cov.mad).toBeCloseTo(0, 15)
  })

  it('calibrated counts follow c(m − 1)/(m + 1) within binomial error at every level', () => {
    // For a truth exchangeable with m uniform samples the type-7 interval covers it with
    // probability exactly c(m − 1)/(m + 1) (ecdf.ts notes); seeds × bins = 2000 independent trials
    // per level, so 4.5 binomial standard errors bound every one of the 50 levels (p ≈ 3e−4 overall).
    const m = 50
    const seeds = syntheticSeeds({ seeds: 5, samples: m, bins: 400, k: 1, seed: 1 })
    const cov = coverage(seeds)
    const trials = 5 * 400
    for (let l = 0; l < cov.levels.length; l++) {
      const p = (cov.levels[l] * (m - 1)) / (m + 1)
      const se = Math.sqrt(Math.max(p * (1 - p), 1e-4) / trials)
      expect(Math.abs(cov.mean[l] - p)).toBeLessThanOrEqual(4.5 * se)
    }
    // and the curve is the diagonal up to the finite-m shortfall 2c/(m + 1) ≤ 0.04
    expect(cov.mad).toBeLessThan(0.04)
  })

  it('a shrunken sample spread falls below the diagonal, a widened one rises above it', () => {
    const levels = nominalLevels()
    const narrow = coverage(syntheticSeeds({ seeds: 5, samples: 50, bins: 400, k: 0.3, seed: 2 }), levels)
    const wide = coverage(syntheticSeeds({ seeds: 5, samples: 50, bins: 400, k: 3, seed: 3 }), levels)
    for (let l = 0; l < levels.length; l++) {
      if (levels[l] < 0.1 || levels[l] > 0.9) continue
      expect(narrow.mean[l]).toBeLessThan(levels[l])
      expect(wide.mean[l]).toBeGreaterThan(levels[l])
    }
    expect(narrow.md).toBeLessThan(-0.1)
    expect(wide.md).toBeGreaterThan(0.1)
    expect(narrow.mad).toBeCloseTo(-narrow.md, 1)
  })

  it('coverage rejects seeds with different bin counts and bad levels', () => {
    const a = quantileSeedCounts(0, 2, 4, new Float64Array(8))
    const b = quantileSeedCounts(1, 2, 9, new Float64Array(18))
    expect(() => coverage([a, b])).toThrow(/seed 1 has 9 bins/)
    expect(() => coverage([a], Float64Array.of(0, 1.5))).toThrow(/1.5 is outside/)
  })

  // -------------------------------------------------------------------------------------
  // marginalCoverage
  // -------------------------------------------------------------------------------------

  it('marginalCoverage averages over the other direction before the absolute value (5.6)', () => {
    // 2 × 2 grid, levels {0, 1}; ĉ at level 0: bins (r, φ) = (0,0) 0, (0,1) 0, (1,0) 1, (1,1) 0;
    // at level 1: (0,0) 1, (0,1) 1, (1,0) 0, (1,1) 1
    const levels = Float64Array.of(0, 1)
    const empirical = Float64Array.of(0, 0, 1, 0, 1, 1, 0, 1)
    const cov: Coverage = { levels, bins: 4, seeds: 1, empirical, mean: new Float64Array(2), md: 0, mad: 0 }
    const mc = marginalCoverage(cov, 2)
    // c̄_r: level 0 → r0 0, r1 ½; level 1 → r0 1, r1 ½
    expect(Array.from(mc.radial)).toEqual([0, 0.5, 1, 0.5])
    // c̄_φ: level 0 → φ0 ½, φ1 0; level 1 → φ0 ½, φ1 1
    expect(Array.from(mc.angular)).toEqual([0.5, 0, 0.5, 1])
    // MAD_r = ⟨⟨|c̄_r − c|⟩_c⟩_r = ((0 + 0)/2 + (½ + ½)/2)/2 = ¼; MAD_φ the same by symmetry
    expect(mc.madR).toBeCloseTo(0.25, 15)
    expect(mc.madPhi).toBeCloseTo(0.25, 15)
    // ⟨c̄_r − c⟩_c: r0 (0 + 0)/2 = 0, r1 (½ − ½)/2 = 0
    expect(Array.from(mc.radialDeviation)).toEqual([0, 0])
    expect(Array.from(mc.angularDeviation)).toEqual([0, 0])
    expect(() => marginalCoverage(cov, 3)).toThrow(/not a 3 × 3 grid/)
  })
})
