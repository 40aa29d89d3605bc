import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decodeNpy, npyNumbers } from '../../shared/io/npy.ts'
import { MissingCountsError, readRunCounts } from '../../shared/stats/counts.ts'
import { writeFixtureRun } from '../report/fixture.ts'

const shape = { groups: [{ name: 'mcmc-sigma-0.1', spread: 1 }], seeds: 2, samples: 3, shards: 2, grids: [2, 3], perBin: 50 }

describe('counts', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bayesamp-counts-'))
    await writeFixtureRun(dir, shape)
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const shardValues = async (s: number, i: number, k: number) => {
    const base = join(dir, 'mcmc-sigma-0.1', `seed-${s}`, 'counts', `sample-${i}`, `shard-${k}`)
    return npyNumbers(decodeNpy(new Uint8Array(await readFile(base + '.npy'))))
  }

  it('readRunCounts sums the shards of every sample, grid by grid', async () => {
    const run = await readRunCounts(dir)
    expect(run.missing).toEqual([])
    expect(run.groups.map((g) => g.group)).toEqual(['mcmc-sigma-0.1'])
    const [g2, g3] = run.groups[0].grids
    expect([g2.n, g3.n]).toEqual([2, 3])
    expect(g3.seeds.map((s) => [s.seed, s.samples, s.bins])).toEqual([
      [0, 3, 9],
      [1, 3, 9],
    ])
    // grid 3 sits after grid 2's 4 bins in every shard: seed 1, sample 2, bin 5 = Σ_k shard_k[4 + 5]
    const a = await shardValues(1, 2, 0)
    const b = await shardValues(1, 2, 1)
    expect(g3.seeds[1].counts[2 * 9 + 5]).toBe(a[4 + 5] + b[4 + 5])
    // the fixture marks one invalid point in sample 0, shard 0 of every seed and grid
    expect(g2.invalid).toEqual([1, 1])
    // truth per bin: mean valid points / n²
    const valid = Array.from(g2.seeds[0].validPoints)
    expect(g2.seeds[0].truth[0]).toBeCloseTo(valid.reduce((x, y) => x + y) / 3 / 4, 12)
  })

  it('readRunCounts lists every missing key and writes nothing without allowPartial', async () => {
    await unlink(join(dir, 'mcmc-sigma-0.1/seed-1/counts/sample-2/shard-1.json'))
    await writeFile(join(dir, 'mcmc-sigma-0.1/seed-0/counts/sample-0/shard-0.json'), '{"format":"other"}')
    const err = await readRunCounts(dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MissingCountsError)
    const keys = (err as MissingCountsError).keys
    expect(keys).toContain('mcmc-sigma-0.1/seed-1/counts/sample-2/shard-1')
    expect(keys.some((k) => k.startsWith('mcmc-sigma-0.1/seed-0/counts/sample-0/shard-0: sidecar format'))).toBe(true)
    expect((err as Error).message).toMatch(/--allow-partial/)
    expect((err as Error).message).toMatch(/seed-1\/counts\/sample-2\/shard-1/)
  })

  it('readRunCounts with allowPartial drops incomplete samples and reports their keys', async () => {
    await unlink(join(dir, 'mcmc-sigma-0.1/seed-1/counts/sample-2/shard-1.json'))
    const run = await readRunCounts(dir, { allowPartial: true })
    expect(run.missing).toEqual(['mcmc-sigma-0.1/seed-1/counts/sample-2/shard-1'])
    expect(run.groups[0].grids[0].seeds.map((s) => s.samples)).toEqual([3, 2])
  })

  it('readRunCounts treats an expected seed without counts as missing', async () => {
    const err = await readRunCounts(dir, { expect: { seeds: [0, 1, 2] } }).catch((e: unknown) => e)
    expect((err as MissingCountsError).keys).toContain('mcmc-sigma-0.1/seed-2/counts/sample-0/shard-0')
  })

  it('readRunCounts rejects counts that disagree with their sidecar', async () => {
    const side = join(dir, 'mcmc-sigma-0.1/seed-0/counts/sample-1/shard-0.json')
    const s = JSON.parse(await readFile(side, 'utf8'))
    s.grids[1].points += 5
    await writeFile(side, JSON.stringify(s))
    const err = await readRunCounts(dir).catch((e: unknown) => e)
    expect((err as MissingCountsError).keys[0]).toMatch(/sample-1\/shard-0: grid 3 counts sum to \d+, the sidecar says/)
  })
})
