/**
 * `bayesamp demo` (what `npm start` runs): the quickest meaningful job — a generation from the
 * example Gamma-ring model into the paper's quantile grids, with a summary of how far the
 * generated occupancy is from the truth's equal-probability occupancy.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { npyNumbers, readNpy } from '../../io/npy.ts'
import type { Logger } from '../logger.ts'
import { generate } from './generate.ts'

export const EXAMPLE_MODEL = fileURLToPath(new URL('../../../examples/models/ring-cfm.onnx', import.meta.url))

export interface GridSummary {
  readonly n: number
  readonly points: number
  /** Pearson χ² of the counts against the truth's expectation points/n², over n² − 1 degrees of freedom. */
  readonly chi2PerDof: number
  /** Largest relative deviation of a bin from its expectation. */
  readonly maxRelDev: number
}

/** χ² of each grid's counts against the equal-probability expectation of a quantile grid. */
export const summarize = (flat: ArrayLike<number>, grids: ReadonlyArray<{ n: number; offset: number; points: number; invalid: number }>): GridSummary[] =>
  grids.map((g) => {
    const bins = g.n * g.n
    const expect = (g.points - g.invalid) / bins
    let chi2 = 0
    let maxRelDev = 0
    for (let j = 0; j < bins; j++) {
      const c = flat[g.offset + j]
      chi2 += (c - expect) ** 2 / expect
      maxRelDev = Math.max(maxRelDev, Math.abs(c - expect) / expect)
    }
    return { n: g.n, points: g.points, chi2PerDof: chi2 / Math.max(1, bins - 1), maxRelDev }
  })

export const demo = async (opts: { out: string; workers?: number }, log: Logger): Promise<GridSummary[]> => {
  const out = join(opts.out, 'counts.npy')
  const { sidecar } = await generate(
    {
      model: EXAMPLE_MODEL,
      out,
      seed: 1,
      stream: 0,
      grids: [2, 5, 10, 20],
      count: { kind: 'perBin', pointsPerBin: 1000 },
      solver: { kind: 'rk4', steps: 16 },
      workers: opts.workers,
      variant: 'auto',
    },
    log,
  )
  const counts = npyNumbers(await readNpy(out))
  const rows = summarize(counts, sidecar.grids)
  console.log('grid     points   χ²/dof vs truth   max |bin − expected| / expected')
  for (const r of rows)
    console.log(`${`${r.n}×${r.n}`.padEnd(8)} ${String(r.points).padStart(7)}   ${r.chi2PerDof.toFixed(2).padStart(14)}   ${(100 * r.maxRelDev).toFixed(1).padStart(8)} %`)
  console.log(`counts: ${out} (sidecar ${out.replace(/\.npy$/, '.json')})`)
  console.log('χ²/dof near 1 means the model is indistinguishable from the truth at that resolution; larger values show where it is not.')
  return rows
}
