/**
 * Bayesian amplification (paper section 6): the per-bin equivalent truth statistics t̂_j, the
 * amplification Σ_j t̂_j / N and the mean per bin, averaged over training seeds, and the power-law
 * fit a'·x^b of figure 5.
 */
import type { SeedCounts } from './posterior.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How t̂_j is formed from the posterior mean ḡ_j and variance σ_j² of bin j:
 * - `'cv'` (default, eq. 6.1): t̂_j = ḡ_j² / σ_j², equating the coefficient of variation to the
 *   Poisson one, so overestimated errors underestimate the statistics;
 * - `'variance'`: t̂_j = σ_j², equating the variances (section 6 discusses and rejects it:
 *   overestimated errors then overestimate the statistics).
 */
export type Estimator = 'cv' | 'variance'

/** One seed's per-bin estimate. */
export interface BinEstimates {
  /** ḡ_j = ⟨g_j^(i)⟩_i. */
  readonly mean: Float64Array
  /** σ_j² = ⟨(g_j^(i) − ḡ_j)²⟩_i (the paper's population variance, divisor m). */
  readonly variance: Float64Array
  /** t̂_j; NaN where undefined (σ_j² = 0 with the `'cv'` estimator). */
  readonly t: Float64Array
  /** N̂ = Σ_j t̂_j over the bins where t̂_j is defined. */
  readonly nHat: number
  /** Bins left out of N̂ because t̂_j is undefined (all samples agree: σ_j² = 0). */
  readonly degenerate: number
}

/** Amplification of one grid, per seed and over seeds. */
export interface Amplification {
  readonly bins: number
  readonly trainingSize: number
  /** N̂_s per seed. */
  readonly nHat: Float64Array
  /** Σ_j t̂_j / N per seed. */
  readonly perSeed: Float64Array
  /** N̂_s / (bins used) per seed: the mean estimate per bin. */
  readonly perBinPerSeed: Float64Array
  /** Mean over seeds and sample standard deviation (divisor S − 1; 0 for one seed): the error bars. */
  readonly amplification: { readonly mean: number; readonly std: number }
  readonly perBin: { readonly mean: number; readonly std: number }
  readonly degenerate: number
}

/** The least-squares line log y = a + b log x, reported as y = a'·x^b. */
export interface PowerLawFit {
  /** a' = e^a. */
  readonly aPrime: number
  /** Standard error of a' by the delta method: a'·se(a). */
  readonly aPrimeErr: number
  readonly a: number
  readonly aErr: number
  readonly b: number
  readonly bErr: number
  /** Points used (the last `last` of the input, after sorting by x). */
  readonly x: Float64Array
  readonly y: Float64Array
  /** Residual variance in log space, RSS/(k − 2). */
  readonly residualVariance: number
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/** ḡ_j, σ_j² and t̂_j of one seed's posterior counts. */
export const binEstimates = (s: SeedCounts, estimator: Estimator = 'cv'): BinEstimates => {
  const { samples: m, bins, counts } = s
  const mean = new Float64Array(bins)
  const variance = new Float64Array(bins)
  for (let i = 0; i < m; i++) for (let j = 0; j < bins; j++) mean[j] += counts[i * bins + j]
  for (let j = 0; j < bins; j++) mean[j] /= m
  // two-pass variance: Σ(g − ḡ)² / m, exact for integer counts up to 2⁵³
  for (let i = 0; i < m; i++)
    for (let j = 0; j < bins; j++) {
      const d = counts[i * bins + j] - mean[j]
      variance[j] += d * d
    }
  for (let j = 0; j < bins; j++) variance[j] /= m
  const t = new Float64Array(bins)
  let nHat = 0
  let degenerate = 0
  for (let j = 0; j < bins; j++) {
    t[j] = estimator === 'cv' ? (variance[j] > 0 ? (mean[j] * mean[j]) / variance[j] : NaN) : variance[j]
    if (Number.isNaN(t[j])) degenerate++
    else nHat += t[j]
  }
  return { mean, variance, t, nHat, degenerate }
}

const meanStd = (v: Float64Array): { mean: number; std: number } => {
  const n = v.length
  let mean = 0
  for (const x of v) mean += x / n
  let ss = 0
  for (const x of v) ss += (x - mean) ** 2
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0 }
}

/** The amplification Σ_j t̂_j / N and the mean t̂ per bin, for each seed and over seeds. */
export const amplification = (
  seeds: readonly SeedCounts[],
  trainingSize: number,
  estimator: Estimator = 'cv',
): Amplification => {
  if (seeds.length === 0) throw new RangeError('amplification: no seeds')
  if (!(trainingSize > 0)) throw new RangeError(`amplification: the training size must be positive, got ${trainingSize}`)
  const S = seeds.length
  const nHat = new Float64Array(S)
  const perSeed = new Float64Array(S)
  const perBinPerSeed = new Float64Array(S)
  let degenerate = 0
  seeds.forEach((s, k) => {
    const e = binEstimates(s, estimator)
    nHat[k] = e.nHat
    perSeed[k] = e.nHat / trainingSize
    perBinPerSeed[k] = e.nHat / Math.max(1, s.bins - e.degenerate)
    degenerate += e.degenerate
  })
  return {
    bins: seeds[0].bins,
    trainingSize,
    nHat,
    perSeed,
    perBinPerSeed,
    amplification: meanStd(perSeed),
    perBin: meanStd(perBinPerSeed),
    degenerate,
  }
}

/**
 * Least squares in log space, log y = a + b·log x, over the `last` points of largest x (the paper
 * fits the last 8). With k points, x̄ and Sxx = Σ(log x − x̄)², s² = RSS/(k − 2):
 * se(b) = s/√Sxx, se(a) = s·√(1/k + x̄²/Sxx), se(a') = a'·se(a). With k = 2 the line is exact and
 * the errors are NaN (no degrees of freedom left). Needs positive x and y.
 */
export const powerLawFit = (x: ArrayLike<number>, y: ArrayLike<number>, last = 8): PowerLawFit => {
  if (x.length !== y.length) throw new RangeError(`powerLawFit: ${x.length} x values but ${y.length} y values`)
  const order = Array.from({ length: x.length }, (_, i) => i).sort((i, j) => x[i] - x[j])
  const use = order.slice(Math.max(0, order.length - last))
  const k = use.length
  if (k < 2) throw new RangeError(`powerLawFit: need at least 2 points, got ${k}`)
  for (const i of use)
    if (!(x[i] > 0 && y[i] > 0)) throw new RangeError(`powerLawFit: point (${x[i]}, ${y[i]}) is not positive`)
  const lx = use.map((i) => Math.log(x[i]))
  const ly = use.map((i) => Math.log(y[i]))
  const mx = lx.reduce((a, v) => a + v, 0) / k
  const my = ly.reduce((a, v) => a + v, 0) / k
  let sxx = 0
  let sxy = 0
  for (let i = 0; i < k; i++) {
    sxx += (lx[i] - mx) ** 2
    sxy += (lx[i] - mx) * (ly[i] - my)
  }
  if (!(sxx > 0)) throw new RangeError('powerLawFit: all x values are equal')
  const b = sxy / sxx
  const a = my - b * mx
  let rss = 0
  for (let i = 0; i < k; i++) rss += (ly[i] - a - b * lx[i]) ** 2
  const s2 = k > 2 ? rss / (k - 2) : NaN
  const bErr = Math.sqrt(s2 / sxx)
  const aErr = Math.sqrt(s2 * (1 / k + (mx * mx) / sxx))
  const aPrime = Math.exp(a)
  return {
    aPrime,
    aPrimeErr: aPrime * aErr,
    a,
    aErr,
    b,
    bErr,
    x: Float64Array.from(use.map((i) => x[i])),
    y: Float64Array.from(use.map((i) => y[i])),
    residualVariance: s2,
  }
}
