/**
 * The reducer's input for one grid and one training seed: the counts g_j^(i) of its m posterior
 * samples in every bin, and the expected truth count of every bin.
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One training seed's posterior counts on one grid. */
export interface SeedCounts {
  /** Training seed s. */
  readonly seed: number
  /** Number of posterior samples m. */
  readonly samples: number
  /** Number of bins n_bins (n² for an n × n grid). */
  readonly bins: number
  /** g_j^(i) at i·bins + j (sample-major). */
  readonly counts: Float64Array
  /** Expected truth count t_j of every bin, compared with the intervals (eq. 5.3). */
  readonly truth: Float64Array
  /** Valid (finite) points each sample put into this grid, Σ_j g_j^(i). */
  readonly validPoints: Float64Array
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The seed's counts for a quantile grid: every bin has truth probability 1/n_bins, so t_j is the
 * mean over samples of the valid points, divided by n_bins. Points that were NaN or infinite are
 * in no bin: they reduce a sample's valid points and so its expectation; when every sample has the
 * same number of valid points (always so without invalid points), t_j = valid/n_bins exactly, the
 * paper's N_gen/n_Q.
 */
export const quantileSeedCounts = (seed: number, samples: number, bins: number, counts: Float64Array): SeedCounts => {
  if (counts.length !== samples * bins)
    throw new RangeError(`seed ${seed}: ${samples} samples × ${bins} bins need ${samples * bins} counts, got ${counts.length}`)
  if (samples < 1) throw new RangeError(`seed ${seed}: no posterior samples`)
  const validPoints = new Float64Array(samples)
  for (let i = 0; i < samples; i++) {
    let s = 0
    for (let j = 0; j < bins; j++) s += counts[i * bins + j]
    validPoints[i] = s
  }
  let mean = 0
  for (let i = 0; i < samples; i++) mean += validPoints[i]
  mean /= samples
  return { seed, samples, bins, counts, truth: new Float64Array(bins).fill(mean / bins), validPoints }
}

/**
 * The seed's counts for bins of known truth probabilities q_j (any binning): t_j = q_j · valid
 * points (mean over samples).
 */
export const seedCountsWithProbabilities = (
  seed: number,
  samples: number,
  probabilities: ArrayLike<number>,
  counts: Float64Array,
): SeedCounts => {
  const bins = probabilities.length
  const base = quantileSeedCounts(seed, samples, bins, counts)
  const valid = base.truth[0] * bins
  const truth = new Float64Array(bins)
  for (let j = 0; j < bins; j++) truth[j] = probabilities[j] * valid
  return { ...base, truth }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The m counts of bin j, g_j^(1) … g_j^(m), into `out` (length ≥ m). */
export const binColumn = (s: SeedCounts, j: number, out: Float64Array): Float64Array => {
  for (let i = 0; i < s.samples; i++) out[i] = s.counts[i * s.bins + j]
  return out
}
