/**
 * Small statistics helpers for the tests: sample moments and the Kolmogorov–Smirnov statistic
 * against a known CDF, plus the standard normal CDF.
 */

// -------------------------------------------------------------------------------------
// distributions
// -------------------------------------------------------------------------------------

/**
 * Φ(x) through erf, Abramowitz & Stegun 7.1.26 (|error of erf| ≤ 1.5e-7): far below the
 * Kolmogorov–Smirnov resolution 1/sqrt(n) of any sample the tests draw.
 */
export const normalCdf = (x: number): number => {
  const z = Math.abs(x) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * z)
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  const erf = 1 - poly * Math.exp(-z * z)
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf)
}

// -------------------------------------------------------------------------------------
// sample statistics
// -------------------------------------------------------------------------------------

export interface Moments {
  readonly mean: number
  readonly variance: number
  readonly skewness: number
  /** Excess kurtosis (0 for a normal). */
  readonly kurtosis: number
}

/** Sample mean, (biased) variance, skewness and excess kurtosis, accumulated in f64. */
export const moments = (xs: ArrayLike<number>): Moments => {
  const n = xs.length
  let s = 0
  for (let i = 0; i < n; i++) s += xs[i]
  const mean = s / n
  let m2 = 0
  let m3 = 0
  let m4 = 0
  for (let i = 0; i < n; i++) {
    const e = xs[i] - mean
    const e2 = e * e
    m2 += e2
    m3 += e2 * e
    m4 += e2 * e2
  }
  m2 /= n
  m3 /= n
  m4 /= n
  return { mean, variance: m2, skewness: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2) - 3 }
}

/** Kolmogorov–Smirnov statistic D = sup |F_n − F| of the sample against `cdf`. */
export const ksStatistic = (xs: ArrayLike<number>, cdf: (x: number) => number): number => {
  const sorted = Float64Array.from(xs).sort()
  const n = sorted.length
  let d = 0
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i])
    d = Math.max(d, f - i / n, (i + 1) / n - f)
  }
  return d
}

/**
 * Asymptotic critical value of sqrt(n)·D at level 0.001: P(sqrt(n)·D > 1.9495) = 0.001 (Kolmogorov
 * distribution). A correct generator fails a fixed-seed test at this level once in a thousand seeds.
 */
export const KS_CRITICAL_0_001 = 1.9495

/** Pearson correlation of two equally long samples. */
export const correlation = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  const n = a.length
  let sa = 0
  let sb = 0
  for (let i = 0; i < n; i++) {
    sa += a[i]
    sb += b[i]
  }
  const ma = sa / n
  const mb = sb / n
  let sab = 0
  let saa = 0
  let sbb = 0
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma
    const db = b[i] - mb
    sab += da * db
    saa += da * da
    sbb += db * db
  }
  return sab / Math.sqrt(saa * sbb)
}
