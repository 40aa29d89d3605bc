import { describe, expect, it } from 'vitest'
import { groupReport, reportData, type GroupReport } from '../../shared/report/data.ts'
import { amplificationFigure, coverageFigure, jsFigure, madFigure, reportFigures, ringFigure } from '../../shared/report/figures.ts'
import { renderSvg } from '../../shared/report/render.ts'
import { quantileSeedCounts } from '../../shared/stats/posterior.ts'
import { gridEdges } from '../../shared/stats/ring.ts'
import type { GroupCounts } from '../../shared/stats/counts.ts'
import { normal, sfc32 } from '../stats/random.ts'

/** A group with counts of every grid n: per seed a centre, per sample Gaussian spread `k`·√expected. */
const group = (name: string, k: number, grids: number[], seed: number): GroupCounts => {
  const z = normal(sfc32(seed))
  return {
    group: name,
    grids: grids.map((n) => ({
      n,
      invalid: [0, 0, 0],
      seeds: [0, 1, 2].map((s) => {
        const bins = n * n
        const counts = new Float64Array(5 * bins)
        for (let j = 0; j < bins; j++) {
          const c = 400 + 20 * z()
          for (let i = 0; i < 5; i++) counts[i * bins + j] = Math.round(c + k * 20 * z())
        }
        return quantileSeedCounts(s, 5, bins, counts)
      }),
    })),
  }
}

const grids = [2, 3, 4, 5]
const groups: GroupReport[] = [
  groupReport(group('mcmc-sigma-0.1', 1, grids, 1), 10000, { levels: 11 }),
  groupReport(group('mcmc-sigma-0.5', 2, grids, 2), 10000, { levels: 11 }),
  groupReport(group('vib-k-10', 1, grids, 3), 10000, { levels: 11 }),
]

describe('figures', () => {
  it('ringFigure draws the grid and counts the occupancy of given points', () => {
    // one point in the middle of every bin of a 2 × 2 grid, plus one inside the hole (r < 4)
    const e = gridEdges(2)
    const rs = [(e[0] + e[1]) / 2, e[1] + 1]
    const pts: number[] = []
    for (const r of rs) for (const phi of [Math.PI / 2, (3 * Math.PI) / 2]) pts.push(r * Math.cos(phi), r * Math.sin(phi))
    pts.push(1, 1)
    const f = ringFigure({ n: 2, points: Float64Array.from(pts) })
    expect(f.data.occupancy.map((c) => [c.jr, c.jphi, c.count])).toEqual([
      [0, 0, 1],
      [0, 1, 1],
      [1, 0, 1],
      [1, 1, 1],
    ])
    // expected count = 5 points / 4 bins
    expect(f.data.occupancy[0].ratio).toBeCloseTo(0.8, 15)
    expect(f.data.points.length).toBe(5)
    expect(f.data.points[4].bin).toBe(-1)
    // 2 circles (r = 4 and the median edge) and 2 rays
    expect(new Set(f.data.lines.map((l) => l.line))).toEqual(new Set(['r0', 'r1', 'phi0', 'phi1']))
  })

  it('coverageFigure holds c̄(c) of every hyperparameter of the method at every grid', () => {
    const f = coverageFigure(groups, 'mcmc', 2)
    expect(f.name).toBe('fig2-coverage-mcmc')
    const rows = f.data.coverage
    expect(rows.length).toBe(2 * grids.length * 11)
    expect(new Set(rows.map((r) => r.label))).toEqual(new Set(['sigma-0.1', 'sigma-0.5']))
    const pick = rows.filter((r) => r.label === 'sigma-0.5' && r.n === 4)
    expect(pick.map((r) => r.cbar)).toEqual(groups[1].grids[2].coverage.mean)
    expect(pick.map((r) => r.c)).toEqual(groups[1].grids[2].coverage.levels)
  })

  it('madFigure holds MAD, MAD_r, MAD_φ per grid and the radial deviation on the finest grid', () => {
    const f = madFigure(groups)
    expect(f.data.mad.length).toBe(3 * grids.length * 3)
    const r = f.data.mad.find((x) => x.group === 'vib-k-10' && x.n === 3 && x.measure === 'MAD_φ')!
    expect(r.value).toBe(groups[2].grids[1].coverage.madPhi)
    expect(r.bins).toBe(9)
    const radial = f.data.radial.filter((x) => x.group === 'mcmc-sigma-0.1')
    expect(radial.map((x) => x.deviation)).toEqual(groups[0].grids[3].coverage.radialDeviation)
    expect(radial.every((x) => (x.r as number) > 4)).toBe(true)
  })

  it('amplificationFigure holds the seed mean ± std and the fit line a′·x^b', () => {
    const f = amplificationFigure(groups)
    const g = groups[0]
    const row = f.data.total.find((x) => x.group === g.group && x.bins === 16)!
    const a = g.grids[2].amplification.total
    expect(row.mean).toBe(a.mean)
    expect(row.hi).toBeCloseTo(a.mean + a.std, 12)
    const fit = f.data.fit.filter((x) => x.group === g.group)
    expect(fit.length).toBe(21)
    // the fit spans the fitted bins and follows a′·x^b; per bin it is that times N / x
    expect(fit[0].bins).toBeCloseTo(4, 12)
    expect(fit[20].bins).toBeCloseTo(25, 12)
    expect(fit[20].total).toBeCloseTo(g.fit!.aPrime * 25 ** g.fit!.b, 10)
    expect(fit[20].perBin).toBeCloseTo((g.fit!.aPrime * 25 ** g.fit!.b * 10000) / 25, 8)
  })

  it('jsFigure holds both divergences of every grid', () => {
    const f = jsFigure(groups)
    expect(f.data.js.length).toBe(3 * grids.length * 2)
    const r = f.data.js.find((x) => x.group === 'mcmc-sigma-0.5' && x.bins === 25 && x.kind === 'truth set of N̂ points')!
    expect(r.mean).toBe(groups[1].grids[3].js.truthSet.mean)
  })

  it('reportFigures makes figures 1, 2, 3 (one per method), 4, 5, 6, and each renders to SVG', async () => {
    const data = reportData({ title: 't', groups: [], trainingSize: () => 1 })
    const figs = reportFigures({ ...data, groups }, { n: 3, points: new Float64Array([5, 0, 0, 6]) })
    expect(figs.map((f) => f.name)).toEqual([
      'fig1-ring',
      'fig2-coverage-mcmc',
      'fig3-coverage-vib',
      'fig4-mad',
      'fig5-amplification',
      'fig6-js',
    ])
    for (const f of figs) {
      const svg = await renderSvg(f.spec)
      expect(svg.startsWith('<svg')).toBe(true)
      expect(svg).toMatch(/<path|<rect/)
    }
  })
})
