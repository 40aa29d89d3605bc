/**
 * The numbers of a report: every group's calibration and amplification at every grid, computed
 * from counts with `shared/stats`. This object is written as `report.json` and is all the figures
 * and tables are drawn from.
 */
import { amplification, binEstimates, type Estimator, powerLawFit } from '../stats/amplification.ts'
import type { GroupCounts } from '../stats/counts.ts'
import { coverage, marginalCoverage, nominalLevels } from '../stats/coverage.ts'
import { expectedTruthSetDivergence, meanPredictionDivergence } from '../stats/divergence.ts'
import { radialBinCentre } from '../stats/ring.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export const REPORT_FORMAT = 'bayesamp.report/1'

export interface Spread {
  readonly perSeed: number[]
  /** Mean over seeds. */
  readonly mean: number
  /** Sample standard deviation over seeds (divisor S − 1; 0 for one seed). */
  readonly std: number
}

export interface GridReport {
  readonly n: number
  readonly bins: number
  readonly seeds: number[]
  /** Posterior samples per seed. */
  readonly samples: number[]
  /** Expected truth count per bin, per seed (valid points / n²). */
  readonly truthPerBin: number[]
  /** NaN or infinite points, all seeds and samples together (excluded from every bin). */
  readonly invalid: number
  readonly coverage: {
    readonly levels: number[]
    /** c̄(c) (5.4). */
    readonly mean: number[]
    readonly md: number
    readonly mad: number
    readonly madR: number
    readonly madPhi: number
    /** r at the probability midpoint of each radial bin. */
    readonly radialCentre: number[]
    /** ⟨c̄_r − c⟩_c per radial bin. */
    readonly radialDeviation: number[]
  }
  readonly amplification: {
    /** N̂ = Σ_j t̂_j per seed. */
    readonly nHat: number[]
    /** Σ_j t̂_j / N. */
    readonly total: Spread
    /** Mean t̂_j per bin. */
    readonly perBin: Spread
    /** Bins without a defined t̂_j (zero spread), all seeds together. */
    readonly degenerate: number
  }
  readonly js: {
    /** D_JS(ḡ/Σḡ, 1/n_Q) per seed. */
    readonly meanPrediction: Spread
    /** E D_JS(T/N̂, 1/n_Q), T ~ Multinomial(N̂, 1/n_Q), per seed: an exact expectation. */
    readonly truthSet: Spread
  }
}

export interface FitReport {
  readonly last: number
  readonly aPrime: number
  readonly aPrimeErr: number
  readonly b: number
  readonly bErr: number
  /** The bin counts the fit used. */
  readonly bins: number[]
}

export interface GroupReport {
  readonly group: string
  /** The text before the first '-' of the group name (e.g. 'mcmc', 'vib'). */
  readonly method: string
  /** The rest of the group name: the hyperparameters (e.g. 'sigma-0.1'). */
  readonly label: string
  readonly trainingSize: number
  readonly grids: GridReport[]
  /** Power-law fit a'·x^b of amplification against bins; null with fewer than 3 grids. */
  readonly fit: FitReport | null
}

export interface ReportData {
  readonly format: typeof REPORT_FORMAT
  readonly title: string
  /** Null for a complete report; otherwise the keys that were missing. */
  readonly partial: { readonly missing: string[] } | null
  readonly options: {
    readonly levels: number
    readonly estimator: Estimator
    readonly fitLast: number
    readonly jsTruthSet: string
    readonly intervals: string
  }
  readonly config: unknown
  readonly groups: GroupReport[]
}

export interface ReportOptions {
  /** Number of nominal levels in [0, 1] (default 50). */
  readonly levels?: number
  /** t̂_j estimator (default 'cv', eq. 6.1). */
  readonly estimator?: Estimator
  /** Points of largest bin count in the power-law fit (default 8). */
  readonly fitLast?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const spread = (v: ArrayLike<number>): Spread => {
  const perSeed = Array.from(v)
  const n = perSeed.length
  const mean = perSeed.reduce((a, x) => a + x, 0) / n
  const std = n > 1 ? Math.sqrt(perSeed.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0
  return { perSeed, mean, std }
}

/** Splits a group name `<method>-<hyperparameters>` (a name without '-' is its own method). */
export const parseGroup = (group: string): { method: string; label: string } => {
  const at = group.indexOf('-')
  return at < 0 ? { method: group, label: group } : { method: group.slice(0, at), label: group.slice(at + 1) }
}

/** Calibration, amplification and JS divergence of one group at every grid. */
export const groupReport = (g: GroupCounts, trainingSize: number, opts: ReportOptions = {}): GroupReport => {
  const levels = nominalLevels(opts.levels ?? 50)
  const estimator = opts.estimator ?? 'cv'
  const fitLast = opts.fitLast ?? 8
  const grids: GridReport[] = g.grids.map((gc) => {
    const { n, seeds } = gc
    const bins = n * n
    const cov = coverage(seeds, levels)
    const marg = marginalCoverage(cov, n)
    const amp = amplification(seeds, trainingSize, estimator)
    const q = new Float64Array(bins).fill(1 / bins)
    const meanPrediction = seeds.map((s) => meanPredictionDivergence(binEstimates(s, estimator).mean, q))
    const truthSet = Array.from(amp.nHat, (nHat) => (nHat >= 1 ? expectedTruthSetDivergence(nHat, q) : NaN))
    return {
      n,
      bins,
      seeds: seeds.map((s) => s.seed),
      samples: seeds.map((s) => s.samples),
      truthPerBin: seeds.map((s) => s.truth[0]),
      invalid: gc.invalid.reduce((a, v) => a + v, 0),
      coverage: {
        levels: Array.from(levels),
        mean: Array.from(cov.mean),
        md: cov.md,
        mad: cov.mad,
        madR: marg.madR,
        madPhi: marg.madPhi,
        radialCentre: Array.from({ length: n }, (_, j) => radialBinCentre(j, n)),
        radialDeviation: Array.from(marg.radialDeviation),
      },
      amplification: {
        nHat: Array.from(amp.nHat),
        total: spread(amp.perSeed),
        perBin: spread(amp.perBinPerSeed),
        degenerate: amp.degenerate,
      },
      js: { meanPrediction: spread(meanPrediction), truthSet: spread(truthSet) },
    }
  })
  const usable = grids.filter((r) => r.amplification.total.mean > 0)
  let fit: FitReport | null = null
  if (usable.length >= 3) {
    const f = powerLawFit(
      usable.map((r) => r.bins),
      usable.map((r) => r.amplification.total.mean),
      fitLast,
    )
    fit = { last: fitLast, aPrime: f.aPrime, aPrimeErr: f.aPrimeErr, b: f.b, bErr: f.bErr, bins: Array.from(f.x) }
  }
  return { group: g.group, ...parseGroup(g.group), trainingSize, grids, fit }
}

/** The whole report's numbers. */
export const reportData = (input: {
  readonly title: string
  readonly groups: readonly GroupCounts[]
  readonly trainingSize: (group: string) => number
  readonly missing?: readonly string[]
  readonly config?: unknown
  readonly options?: ReportOptions
}): ReportData => {
  const o = input.options ?? {}
  return {
    format: REPORT_FORMAT,
    title: input.title,
    partial: input.missing && input.missing.length > 0 ? { missing: [...input.missing] } : null,
    options: {
      levels: o.levels ?? 50,
      estimator: o.estimator ?? 'cv',
      fitLast: o.fitLast ?? 8,
      jsTruthSet:
        'exact expectation of D_JS(T/N̂, q) over T ~ Multinomial(round(N̂), q), by linearity over bins with Binomial(N̂, q_j) marginals; no random draws',
      intervals:
        'type-7 interpolated empirical CDF (positions (k−1)/(m−1)), closed symmetric intervals; c = 1 gives [min, max] of the samples',
    },
    config: input.config ?? null,
    groups: input.groups.map((g) => groupReport(g, input.trainingSize(g.group), o)),
  }
}
