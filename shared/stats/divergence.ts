/**
 * The Jensen–Shannon check of the amplification (paper section 6.1, eq. 6.2): the divergence of
 * the posterior mean prediction from the truth, and that of an independent truth set of size N̂
 * from the truth (figure 6).
 *
 * The second is computed as an exact expectation, not by drawing sets: the JS divergence is a sum
 * of per-bin terms, each depending only on that bin's count, and in a multinomial draw of N̂ points
 * the count of bin j is Binomial(N̂, q_j). So E[D_JS(T/N̂, q)] = Σ_j E_{t ~ Bin(N̂, q_j)}[term_j(t)],
 * summed over the binomial pmf (exact to double precision; see `expectedTruthSetDivergence`). No
 * random numbers are involved.
 */

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/** One bin's term of eq. 6.2 without the ½: p log(p/m) + q log(q/m), m = (p + q)/2, 0·log 0 = 0. */
const term = (p: number, q: number): number => {
  const m = 0.5 * (p + q)
  return (p > 0 ? p * Math.log(p / m) : 0) + (q > 0 ? q * Math.log(q / m) : 0)
}

/**
 * D_JS(p, q) = ½ Σ_j [p_j log(p_j/m_j) + q_j log(q_j/m_j)], m_j = (p_j + q_j)/2 (eq. 6.2), natural
 * log: 0 for equal histograms, log 2 for disjoint ones, symmetric. p and q should each sum to 1
 * (see `normalize`).
 */
export const jsDivergence = (p: ArrayLike<number>, q: ArrayLike<number>): number => {
  if (p.length !== q.length) throw new RangeError(`jsDivergence: histograms of ${p.length} and ${q.length} bins`)
  let d = 0
  for (let j = 0; j < p.length; j++) {
    if (p[j] < 0 || q[j] < 0) throw new RangeError(`jsDivergence: bin ${j} has a negative probability`)
    d += term(p[j], q[j])
  }
  return 0.5 * d
}

/** v / Σv. Throws when the sum is not positive. */
export const normalize = (v: ArrayLike<number>): Float64Array => {
  let s = 0
  for (let j = 0; j < v.length; j++) s += v[j]
  if (!(s > 0)) throw new RangeError('normalize: the histogram is empty')
  return Float64Array.from(v, (x) => x / s)
}

/**
 * E_{t ~ Bin(n, q)}[f(t)]: the pmf is walked outward from the mode by the ratio
 * pmf(k + 1)/pmf(k) = (n − k)/(k + 1) · q/(1 − q), with weight 1 at the mode, until a weight falls
 * below 1e−18 of the mode's (the tail beyond is smaller still: the pmf ratio keeps falling), then
 * normalized by the weights' sum. Relative error ≈ 1e−16; about 2·9·√(nq(1 − q)) terms.
 */
export const binomialExpectation = (n: number, q: number, f: (k: number) => number): number => {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`binomialExpectation: n must be a non-negative integer, got ${n}`)
  if (!(q >= 0 && q <= 1)) throw new RangeError(`binomialExpectation: q must lie in [0, 1], got ${q}`)
  if (q === 0) return f(0)
  if (q === 1) return f(n)
  const mode = Math.min(n, Math.floor((n + 1) * q))
  const odds = q / (1 - q)
  let wsum = 1
  let fsum = f(mode)
  let w = 1
  for (let k = mode; k < n; k++) {
    w *= ((n - k) / (k + 1)) * odds
    if (w < 1e-18) break
    wsum += w
    fsum += w * f(k + 1)
  }
  w = 1
  for (let k = mode; k > 0; k--) {
    w *= k / ((n - k + 1) * odds)
    if (w < 1e-18) break
    wsum += w
    fsum += w * f(k - 1)
  }
  return fsum / wsum
}

/**
 * E[D_JS(T/N̂, q)] for T ~ Multinomial(N̂, q): the divergence expected of an independent truth set
 * of N̂ points (figure 6, dashed). N̂ is rounded to the nearest integer (a set has whole points).
 * Bins of equal q_j share one binomial sum, so a quantile grid costs one sum.
 */
export const expectedTruthSetDivergence = (nHat: number, q: ArrayLike<number>): number => {
  if (!(nHat >= 1)) throw new RangeError(`expectedTruthSetDivergence: the set size must be at least 1, got ${nHat}`)
  const N = Math.round(nHat)
  const memo = new Map<number, number>()
  let d = 0
  for (let j = 0; j < q.length; j++) {
    let e = memo.get(q[j])
    if (e === undefined) {
      const qj = q[j]
      e = binomialExpectation(N, qj, (k) => term(k / N, qj))
      memo.set(qj, e)
    }
    d += e
  }
  return 0.5 * d
}

/**
 * D_JS of the posterior mean prediction against the truth (figure 6, solid): p_j = ḡ_j / Σ_j ḡ_j
 * (the paper's ḡ_j / (1000·n_Q), the total being the valid generated points) against q.
 */
export const meanPredictionDivergence = (meanCounts: ArrayLike<number>, q: ArrayLike<number>): number =>
  jsDivergence(normalize(meanCounts), q)
