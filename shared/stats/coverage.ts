/**
 * Calibration (paper section 5): empirical coverage per bin over independent training seeds
 * (eq. 5.3), the mean over bins on a grid of nominal levels (5.4), MD and MAD (5.5), and the
 * marginal coverages c̄_r, c̄_φ with MAD_r, MAD_φ (5.6), plus the radial profile of figure 4.
 *
 * Intervals are those of `ecdf.ts` (type-7 interpolation, closed, [min, max] at c = 1).
 */
import { quantile, sortedSample } from './ecdf.ts'
import { binColumn, type SeedCounts } from './posterior.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface Coverage {
  /** Nominal levels c (L of them). */
  readonly levels: Float64Array
  readonly bins: number
  /** Number of seeds averaged in ĉ_j. */
  readonly seeds: number
  /** ĉ_j(c) at l·bins + j: the fraction of seeds whose I_j(c) contains the truth (5.3). */
  readonly empirical: Float64Array
  /** c̄(c) = ⟨ĉ_j(c)⟩_j (5.4), one per level. */
  readonly mean: Float64Array
  /** MD = ⟨c̄ − c⟩_c (5.5). */
  readonly md: number
  /** MAD = ⟨|c̄ − c|⟩_c (5.5). */
  readonly mad: number
}

/** The marginal coverages of an n × n grid (bin j = j_r·n + j_φ), eq. 5.6. */
export interface MarginalCoverage {
  readonly n: number
  /** c̄_r(c) = ⟨ĉ_(j_r, j_φ)⟩_{j_φ} at l·n + j_r. */
  readonly radial: Float64Array
  /** c̄_φ(c) = ⟨ĉ_(j_r, j_φ)⟩_{j_r} at l·n + j_φ. */
  readonly angular: Float64Array
  /** MAD_r = ⟨⟨|c̄_r − c|⟩_c⟩_{j_r}. */
  readonly madR: number
  /** MAD_φ = ⟨⟨|c̄_φ − c|⟩_c⟩_{j_φ}. */
  readonly madPhi: number
  /** ⟨c̄_r − c⟩_c per radial bin: below 0 overconfident, above 0 underconfident (figure 4, right). */
  readonly radialDeviation: Float64Array
  /** ⟨c̄_φ − c⟩_c per angular bin. */
  readonly angularDeviation: Float64Array
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** `count` nominal levels linearly spaced in [0, 1], both ends included (the paper uses 50). */
export const nominalLevels = (count = 50): Float64Array => {
  if (!Number.isInteger(count) || count < 2) throw new RangeError(`nominalLevels: need an integer count ≥ 2, got ${count}`)
  const c = new Float64Array(count)
  for (let l = 0; l < count; l++) c[l] = l / (count - 1)
  c[count - 1] = 1
  return c
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * ĉ_j(c) over the seeds (each seed one ensemble Θ^s), c̄(c), MD and MAD. Every seed must have the
 * same number of bins; their sample counts may differ.
 */
export const coverage = (seeds: readonly SeedCounts[], levels: Float64Array = nominalLevels()): Coverage => {
  if (seeds.length === 0) throw new RangeError('coverage: no seeds')
  const bins = seeds[0].bins
  for (const s of seeds)
    if (s.bins !== bins) throw new RangeError(`coverage: seed ${s.seed} has ${s.bins} bins, seed ${seeds[0].seed} has ${bins}`)
  for (const c of levels) if (!(c >= 0 && c <= 1)) throw new RangeError(`coverage: nominal level ${c} is outside [0, 1]`)
  const L = levels.length
  const hits = new Float64Array(L * bins)
  for (const s of seeds) {
    const column = new Float64Array(s.samples)
    for (let j = 0; j < bins; j++) {
      const sorted = sortedSample(binColumn(s, j, column))
      const t = s.truth[j]
      for (let l = 0; l < L; l++) {
        // I_j(c) = [F̂⁻¹(½ − c/2), F̂⁻¹(½ + c/2)] (5.2), closed
        const c = levels[l]
        if (quantile(sorted, 0.5 - c / 2) <= t && t <= quantile(sorted, 0.5 + c / 2)) hits[l * bins + j]++
      }
    }
  }
  const S = seeds.length
  const empirical = hits.map((h) => h / S)
  const mean = new Float64Array(L)
  let md = 0
  let mad = 0
  for (let l = 0; l < L; l++) {
    let m = 0
    for (let j = 0; j < bins; j++) m += empirical[l * bins + j]
    mean[l] = m / bins
    md += mean[l] - levels[l]
    mad += Math.abs(mean[l] - levels[l])
  }
  return { levels, bins, seeds: S, empirical, mean, md: md / L, mad: mad / L }
}

/** The marginal coverages of eq. 5.6 for an n × n grid, from `coverage`'s ĉ_j. */
export const marginalCoverage = (cov: Coverage, n: number): MarginalCoverage => {
  if (n * n !== cov.bins) throw new RangeError(`marginalCoverage: ${cov.bins} bins is not a ${n} × ${n} grid`)
  const { levels, empirical, bins } = cov
  const L = levels.length
  const radial = new Float64Array(L * n)
  const angular = new Float64Array(L * n)
  for (let l = 0; l < L; l++)
    for (let jr = 0; jr < n; jr++)
      for (let jp = 0; jp < n; jp++) {
        const c = empirical[l * bins + jr * n + jp]
        radial[l * n + jr] += c / n
        angular[l * n + jp] += c / n
      }
  const summarize = (marg: Float64Array) => {
    const deviation = new Float64Array(n)
    let mad = 0
    for (let j = 0; j < n; j++) {
      let d = 0
      let a = 0
      for (let l = 0; l < L; l++) {
        d += marg[l * n + j] - levels[l]
        a += Math.abs(marg[l * n + j] - levels[l])
      }
      deviation[j] = d / L
      mad += a / L
    }
    return { deviation, mad: mad / n }
  }
  const r = summarize(radial)
  const p = summarize(angular)
  return { n, radial, angular, madR: r.mad, madPhi: p.mad, radialDeviation: r.deviation, angularDeviation: p.deviation }
}
