/**
 * The paper's figures 1–6 as Vega-Lite specifications built from a report's numbers. Each figure
 * carries its data as named datasets (`datasets` in the spec, also returned as `data`), so tests
 * compare the series behind a figure rather than its pixels.
 */
import type { GroupReport, ReportData } from './data.ts'
import { gridEdges, ringBin, truthPoints } from '../stats/ring.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Row = Record<string, number | string | null>

export interface Figure {
  /** File stem, e.g. 'fig2-coverage-mcmc'. */
  readonly name: string
  /** Caption for the report page. */
  readonly caption: string
  /** A Vega-Lite (v6) specification. */
  readonly spec: Record<string, unknown>
  /** The named datasets of the spec. */
  readonly data: Record<string, Row[]>
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'

/** Shared look: a font resvg finds on the server, readable sizes. */
const CONFIG = {
  font: 'DejaVu Sans',
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true },
  legend: { labelFontSize: 12, titleFontSize: 13, labelLimit: 320, titleLimit: 320, symbolStrokeWidth: 2 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 15 },
  view: { stroke: '#888' },
}

const figure = (name: string, caption: string, data: Record<string, Row[]>, body: Record<string, unknown>): Figure => ({
  name,
  caption,
  data,
  spec: { $schema: SCHEMA, background: 'white', padding: 8, config: CONFIG, datasets: data, ...body },
})

/** Error bars on a log axis: mean ± std, the lower end clipped at 1% of the mean. */
const bar = (mean: number, std: number) => ({ mean, lo: mean - std > 0 ? mean - std : mean / 100, hi: mean + std })

// -------------------------------------------------------------------------------------
// figure 1
// -------------------------------------------------------------------------------------

/**
 * Figure 1: the ring with its n × n quantile grid (left) and the occupancy of the grid by the
 * points (right, count over expected count). Points are interleaved [x, y]; by default `count`
 * exact truth draws from the module-local generator of `stats/ring.ts` (seeded, for display).
 */
export const ringFigure = (opts: { n?: number; points?: Float64Array; count?: number; seed?: number } = {}): Figure => {
  const n = opts.n ?? 5
  const pts = opts.points ?? truthPoints(opts.count ?? 3000, opts.seed ?? 1)
  const edges = gridEdges(n)
  const total = pts.length / 2
  const occupancy = new Array(n * n).fill(0)
  const points: Row[] = []
  let rmax = 0
  for (let i = 0; i < total; i++) {
    const x = pts[2 * i]
    const y = pts[2 * i + 1]
    const b = ringBin(x, y, edges)
    if (b >= 0) occupancy[b]++
    rmax = Math.max(rmax, Math.hypot(x, y))
    points.push({ x, y, bin: b, shade: b < 0 ? -1 : (Math.floor(b / n) + (b % n)) % 2 })
  }
  const rOuter = Math.ceil(rmax)
  // grid lines: a circle at every finite radial edge, a ray at every angular edge
  const lines: Row[] = []
  for (let k = 0; k < n; k++)
    for (let a = 0; a <= 180; a++) {
      const t = (2 * Math.PI * a) / 180
      lines.push({ line: `r${k}`, order: a, x: edges[k] * Math.cos(t), y: edges[k] * Math.sin(t) })
    }
  for (let k = 0; k < n; k++) {
    const t = (2 * Math.PI * k) / n
    lines.push({ line: `phi${k}`, order: 0, x: 4 * Math.cos(t), y: 4 * Math.sin(t) })
    lines.push({ line: `phi${k}`, order: 1, x: rOuter * Math.cos(t), y: rOuter * Math.sin(t) })
  }
  const expected = total / (n * n)
  const cells: Row[] = occupancy.map((c, b) => ({ jr: Math.floor(b / n), jphi: b % n, count: c, ratio: c / expected }))
  const dom = [-rOuter, rOuter]
  return figure(
    'fig1-ring',
    `The Gamma ring (${total} truth points) with its ${n} × ${n} quantile grid, and the occupancy of each bin relative to the expected ${expected.toFixed(1)} points.`,
    { points, lines, occupancy: cells },
    {
      hconcat: [
        {
          width: 360,
          height: 360,
          title: `${n} × ${n} quantiles`,
          layer: [
            {
              data: { name: 'points' },
              mark: { type: 'circle', size: 6, opacity: 0.6 },
              encoding: {
                x: { field: 'x', type: 'quantitative', scale: { domain: dom }, title: 'x (data units)' },
                y: { field: 'y', type: 'quantitative', scale: { domain: dom }, title: 'y (data units)' },
                color: { field: 'shade', type: 'nominal', scale: { domain: [0, 1, -1], range: ['#3b6fb6', '#e08a2c', '#999'] }, legend: null },
              },
            },
            {
              data: { name: 'lines' },
              mark: { type: 'line', color: '#222', strokeWidth: 1 },
              encoding: {
                x: { field: 'x', type: 'quantitative' },
                y: { field: 'y', type: 'quantitative' },
                detail: { field: 'line' },
                order: { field: 'order' },
              },
            },
          ],
        },
        {
          width: 300,
          height: 300,
          title: 'occupancy / expected',
          data: { name: 'occupancy' },
          mark: 'rect',
          encoding: {
            x: { field: 'jphi', type: 'ordinal', title: 'angular bin j_φ' },
            y: { field: 'jr', type: 'ordinal', title: 'radial bin j_r', sort: 'descending' },
            color: { field: 'ratio', type: 'quantitative', scale: { scheme: 'blueorange', domainMid: 1 }, title: 'count / expected' },
            tooltip: [{ field: 'count' }, { field: 'ratio', format: '.3f' }],
          },
        },
      ],
    },
  )
}

// -------------------------------------------------------------------------------------
// figures 2, 3
// -------------------------------------------------------------------------------------

/**
 * Figures 2 and 3: mean empirical coverage c̄ against nominal coverage c, one curve per
 * hyperparameter of `method`, one panel per grid size, with the diagonal.
 */
export const coverageFigure = (groups: readonly GroupReport[], method: string, figureNumber = 2): Figure => {
  const rows: Row[] = []
  for (const g of groups.filter((x) => x.method === method))
    for (const r of g.grids)
      r.coverage.levels.forEach((c, l) =>
        rows.push({ group: g.group, label: g.label, n: r.n, grid: `${r.n} × ${r.n}`, c, cbar: r.coverage.mean[l] }),
      )
  const order = [...new Set(rows.map((r) => r.n as number))].sort((a, b) => a - b).map((n) => `${n} × ${n}`)
  return figure(
    `fig${figureNumber}-coverage-${method}`,
    `Mean empirical coverage c̄ over all quantiles against the nominal coverage c for ${method}, one curve per hyperparameter setting, one panel per grid; the diagonal is perfect calibration (below: overconfident, above: underconfident).`,
    { coverage: rows },
    {
      data: { name: 'coverage' },
      facet: { field: 'grid', type: 'ordinal', sort: order, title: 'quantile grid' },
      columns: 4,
      spec: {
        width: 220,
        height: 220,
        layer: [
          {
            mark: { type: 'line', color: '#888', strokeDash: [4, 4] },
            encoding: { x: { field: 'c', type: 'quantitative' }, y: { field: 'c', type: 'quantitative' } },
          },
          {
            mark: { type: 'line', strokeWidth: 2 },
            encoding: {
              x: { field: 'c', type: 'quantitative', title: 'nominal coverage c', scale: { domain: [0, 1] } },
              y: { field: 'cbar', type: 'quantitative', title: 'mean empirical coverage c̄', scale: { domain: [0, 1] } },
              color: { field: 'label', type: 'nominal', title: method },
            },
          },
        ],
      },
    },
  )
}

// -------------------------------------------------------------------------------------
// figure 4
// -------------------------------------------------------------------------------------

/**
 * Figure 4: MAD, MAD_r and MAD_φ against the number of quantiles (left), and the radial coverage
 * deviation ⟨c̄_r − c⟩_c against r on each group's finest grid (right).
 */
export const madFigure = (groups: readonly GroupReport[]): Figure => {
  const mad: Row[] = []
  const radial: Row[] = []
  for (const g of groups) {
    for (const r of g.grids)
      for (const [measure, value] of [
        ['MAD', r.coverage.mad],
        ['MAD_r', r.coverage.madR],
        ['MAD_φ', r.coverage.madPhi],
      ] as const)
        mad.push({ group: g.group, n: r.n, bins: r.bins, measure, value })
    const finest = g.grids[g.grids.length - 1]
    if (finest !== undefined)
      finest.coverage.radialDeviation.forEach((d, j) =>
        radial.push({ group: g.group, n: finest.n, jr: j, r: finest.coverage.radialCentre[j], deviation: d }),
      )
  }
  return figure(
    'fig4-mad',
    'Left: mean absolute deviation of empirical from nominal coverage, MAD (5.5) and the marginal MAD_r, MAD_φ (5.6), against the number of quantiles. Right: radial coverage deviation ⟨c̄_r − c⟩_c on the finest grid (below 0 overconfident, above 0 underconfident).',
    { mad, radial },
    {
      hconcat: [
        {
          width: 340,
          height: 280,
          data: { name: 'mad' },
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'bins', type: 'quantitative', scale: { type: 'log' }, title: 'number of quantiles n_Q' },
            y: { field: 'value', type: 'quantitative', title: 'mean absolute deviation' },
            color: { field: 'group', type: 'nominal' },
            strokeDash: { field: 'measure', type: 'nominal', title: 'average', legend: { symbolType: 'stroke' } },
          },
        },
        {
          width: 340,
          height: 280,
          layer: [
            { mark: { type: 'rule', color: '#888' }, encoding: { y: { datum: 0 } } },
            {
              data: { name: 'radial' },
              mark: { type: 'line', point: { size: 10 } },
              encoding: {
                x: { field: 'r', type: 'quantitative', title: 'radius r (data units)', scale: { zero: false } },
                y: { field: 'deviation', type: 'quantitative', title: 'c̄_r − c (mean over c)' },
                color: { field: 'group', type: 'nominal' },
              },
            },
          ],
        },
      ],
    },
  )
}

// -------------------------------------------------------------------------------------
// figure 5
// -------------------------------------------------------------------------------------

/**
 * Figure 5: amplification Σ_j t̂_j / N against the number of bins with the power-law fit (left),
 * and the mean t̂_j per bin (right); error bars are the standard deviation over seeds.
 */
export const amplificationFigure = (groups: readonly GroupReport[]): Figure => {
  const total: Row[] = []
  const perBin: Row[] = []
  const fit: Row[] = []
  for (const g of groups) {
    for (const r of g.grids) {
      total.push({ group: g.group, bins: r.bins, ...bar(r.amplification.total.mean, r.amplification.total.std) })
      perBin.push({ group: g.group, bins: r.bins, ...bar(r.amplification.perBin.mean, r.amplification.perBin.std) })
    }
    if (g.fit !== null) {
      const lo = Math.log(g.fit.bins[0])
      const hi = Math.log(g.fit.bins[g.fit.bins.length - 1])
      for (let k = 0; k <= 20; k++) {
        const x = Math.exp(lo + ((hi - lo) * k) / 20)
        const y = g.fit.aPrime * x ** g.fit.b
        // mean t̂ per bin = (Σ t̂ / N)·N / n_bins
        fit.push({ group: g.group, bins: x, total: y, perBin: (y * g.trainingSize) / x })
      }
    }
  }
  const panel = (name: 'total' | 'perBin', title: string) => ({
    width: 340,
    height: 280,
    layer: [
      {
        data: { name },
        mark: { type: 'rule' },
        encoding: {
          x: { field: 'bins', type: 'quantitative', scale: { type: 'log' }, title: 'number of bins n_bins' },
          y: { field: 'lo', type: 'quantitative', scale: { type: 'log' }, title },
          y2: { field: 'hi' },
          color: { field: 'group', type: 'nominal' },
        },
      },
      {
        data: { name },
        mark: { type: 'point', filled: true },
        encoding: {
          x: { field: 'bins', type: 'quantitative' },
          y: { field: 'mean', type: 'quantitative' },
          color: { field: 'group', type: 'nominal' },
        },
      },
      {
        data: { name: 'fit' },
        mark: { type: 'line', opacity: 0.45, strokeWidth: 2 },
        encoding: {
          x: { field: 'bins', type: 'quantitative' },
          y: { field: name, type: 'quantitative' },
          color: { field: 'group', type: 'nominal' },
        },
      },
    ],
  })
  return figure(
    'fig5-amplification',
    'Left: amplification Σ_j t̂_j / N (eq. 6.1, N the training size) against the number of bins, with the least-squares power-law fit a′·x^b to the last points (faint lines). Right: mean t̂_j per bin. Error bars: standard deviation over training seeds.',
    { total, perBin, fit },
    { hconcat: [panel('total', 'amplification Σ t̂_j / N'), panel('perBin', 'mean t̂_j per bin (points)')] },
  )
}

// -------------------------------------------------------------------------------------
// figure 6
// -------------------------------------------------------------------------------------

/**
 * Figure 6: JS divergence of the mean prediction from the truth (solid) and the expected JS
 * divergence of an independent truth set of N̂ points (dashed), against the number of bins.
 */
export const jsFigure = (groups: readonly GroupReport[]): Figure => {
  const js: Row[] = []
  for (const g of groups)
    for (const r of g.grids) {
      js.push({ group: g.group, bins: r.bins, kind: 'mean prediction', ...bar(r.js.meanPrediction.mean, r.js.meanPrediction.std) })
      js.push({ group: g.group, bins: r.bins, kind: 'truth set of N̂ points', ...bar(r.js.truthSet.mean, r.js.truthSet.std) })
    }
  return figure(
    'fig6-js',
    'Jensen–Shannon divergence (eq. 6.2, natural log) from the truth of the posterior mean prediction (solid) and of an independent truth set of the size N̂ = Σ_j t̂_j (dashed; exact expectation over multinomial sets). Error bars: standard deviation over training seeds.',
    { js },
    {
      width: 420,
      height: 300,
      data: { name: 'js' },
      layer: [
        {
          mark: { type: 'rule' },
          encoding: {
            x: { field: 'bins', type: 'quantitative', scale: { type: 'log' }, title: 'number of bins n_bins' },
            y: { field: 'lo', type: 'quantitative', scale: { type: 'log' }, title: 'JS divergence (nats)' },
            y2: { field: 'hi' },
            color: { field: 'group', type: 'nominal' },
          },
        },
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'bins', type: 'quantitative' },
            y: { field: 'mean', type: 'quantitative' },
            color: { field: 'group', type: 'nominal' },
            strokeDash: {
              field: 'kind',
              type: 'nominal',
              title: 'compared with the truth',
              sort: ['mean prediction'],
              legend: { symbolType: 'stroke' },
            },
          },
        },
      ],
    },
  )
}

// -------------------------------------------------------------------------------------
// all
// -------------------------------------------------------------------------------------

/** Every figure of a report: 1, one coverage figure per method (2, 3), 4, 5, 6. */
export const reportFigures = (data: ReportData, ring: { n?: number; points?: Float64Array; count?: number } = {}): Figure[] => {
  // The paper's numbering: figure 2 is AdamMCMC's coverage, figure 3 VIB's, whichever ran.
  const present = new Set(data.groups.map((g) => g.method))
  const numbered: Array<[string, number]> = [['mcmc', 2], ['vib', 3]]
  const others = [...present].filter((m) => m !== 'mcmc' && m !== 'vib')
  return [
    ringFigure(ring),
    ...numbered.filter(([m]) => present.has(m)).map(([m, k]) => coverageFigure(data.groups, m, k)),
    ...others.map((m, k) => coverageFigure(data.groups, m, 4 + k)),
    madFigure(data.groups),
    amplificationFigure(data.groups),
    jsFigure(data.groups),
  ]
}
