/**
 * A synthetic run directory in DESIGN.md's storage layout, for the report tests: counts of every
 * grid drawn around the truth expectation with a per-seed offset and a per-sample spread (seeded
 * sfc32 from the statistics tests), written as generation writes them (int64 .npy + sidecar).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeNpy } from '../../shared/io/npy.ts'
import { normal, sfc32 } from '../stats/random.ts'

export interface FixtureOptions {
  readonly groups: readonly { readonly name: string; readonly spread: number }[]
  readonly seeds: number
  readonly samples: number
  readonly shards: number
  readonly grids: readonly number[]
  /** Points per bin of every grid, per shard. */
  readonly perBin: number
  readonly seed?: number
}

/** Writes the run under `dir`; returns the counts files written, as keys relative to `dir`. */
export const writeFixtureRun = async (dir: string, o: FixtureOptions): Promise<string[]> => {
  const z = normal(sfc32(o.seed ?? 5))
  const keys: string[] = []
  await writeFile(join(dir, 'config.json'), JSON.stringify({ name: 'fixture', trainingSize: 10000 }))
  for (const g of o.groups)
    for (let s = 0; s < o.seeds; s++) {
      // per-seed centre offset per bin, per-sample spread around it (relative to √expected)
      const centre = o.grids.map((n) => Array.from({ length: n * n }, () => z()))
      for (let i = 0; i < o.samples; i++)
        for (let k = 0; k < o.shards; k++) {
          const total = o.grids.reduce((a, n) => a + n * n, 0)
          const flat = new BigInt64Array(total)
          const grids: { n: number; offset: number; points: number; invalid: number }[] = []
          let offset = 0
          o.grids.forEach((n, b) => {
            let sum = 0
            for (let j = 0; j < n * n; j++) {
              const sd = Math.sqrt(o.perBin)
              const v = Math.max(0, Math.round(o.perBin + sd * centre[b][j] + g.spread * sd * z()))
              flat[offset + j] = BigInt(v)
              sum += v
            }
            const invalid = i === 0 && k === 0 ? 1 : 0
            grids.push({ n, offset, points: sum + invalid, invalid })
            offset += n * n
          })
          const base = join(dir, g.name, `seed-${s}`, 'counts', `sample-${i}`, `shard-${k}`)
          await mkdir(join(base, '..'), { recursive: true })
          await writeFile(base + '.npy', encodeNpy([total], flat))
          await writeFile(
            base + '.json',
            JSON.stringify({
              format: 'bayesamp.counts/1',
              model: { name: `sample-${i}`, sha256: '0'.repeat(64) },
              evaluator: 'wasm',
              seed: 1,
              stream: k,
              solver: { kind: 'rk4', steps: 16 },
              chunkSize: 4096,
              totalPoints: grids.reduce((a, x) => Math.max(a, x.points), 0),
              pointsPerBin: o.perBin,
              binning: 'gamma-ring-quantiles',
              grids,
              evaluations: 0,
              rejectedSteps: 0,
            }),
          )
          keys.push(`${g.name}/seed-${s}/counts/sample-${i}/shard-${k}`)
        }
    }
  return keys
}
