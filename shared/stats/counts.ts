/**
 * Reading a run's counts for the reducer. The layout is DESIGN.md's storage layout:
 *
 *   <run>/<group>/seed-<s>/counts/sample-<i>/shard-<k>.npy   int64, every grid's n × n counts concatenated
 *   <run>/<group>/seed-<s>/counts/sample-<i>/shard-<k>.json  its sidecar, format 'bayesamp.counts/1'
 *
 * A shard is complete when its sidecar exists (generation writes it last). Shards of one sample are
 * summed. What is expected: the groups, seeds and sample indices found anywhere in the group (or
 * given), shards 0 … max found in the group (or given), every grid found in any sidecar of the
 * group. Anything expected and absent or unreadable is a missing key; by default that is an error
 * listing the keys. With `allowPartial`, an incomplete (seed, sample) is left out whole, a seed
 * with fewer than 2 samples left is left out, and the keys are returned for the report's banner.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { COUNTS_FORMAT, type CountsSidecar as GenerationSidecar } from '../generate/output.ts'
import { decodeNpy, npyNumbers } from '../io/npy.ts'
import { quantileSeedCounts, type SeedCounts } from './posterior.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export { COUNTS_FORMAT }

/** The sidecar fields the reducer reads (generation writes more: shared/generate/output.ts). */
export type CountsSidecar = Pick<GenerationSidecar, 'grids'> & { readonly format: string; readonly binning: string }

/** One grid of one group: every seed's posterior counts. */
export interface GridCounts {
  readonly n: number
  readonly seeds: readonly SeedCounts[]
  /** Per seed, the invalid (NaN or infinite) points of all its samples together. */
  readonly invalid: readonly number[]
}

export interface GroupCounts {
  readonly group: string
  readonly grids: readonly GridCounts[]
}

export interface RunCounts {
  readonly groups: readonly GroupCounts[]
  /** Keys expected and not usable, each `<group>/seed-<s>/counts/sample-<i>/shard-<k>[: problem]`. */
  readonly missing: readonly string[]
}

/** What the caller knows must exist (e.g. from the run's config); unset parts are discovered. */
export interface CountsExpectation {
  readonly groups?: readonly string[]
  readonly seeds?: readonly number[]
  /** Sample indices 0 … samples − 1. */
  readonly samples?: number
  /** Shard indices 0 … shards − 1. */
  readonly shards?: number
  readonly grids?: readonly number[]
}

/** Counts are missing or unreadable; `keys` lists every one. */
export class MissingCountsError extends Error {
  constructor(readonly keys: readonly string[]) {
    const shown = keys.slice(0, 50)
    super(
      `counts missing or unreadable for ${keys.length} key(s) (pass --allow-partial to report from what exists):\n` +
        shown.map((k) => `  ${k}`).join('\n') +
        (keys.length > shown.length ? `\n  … and ${keys.length - shown.length} more` : ''),
    )
    this.name = 'MissingCountsError'
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const listDir = async (dir: string): Promise<string[]> => {
  try {
    return (await readdir(dir, { withFileTypes: true })).map((d) => (d.isDirectory() ? d.name + '/' : d.name))
  } catch {
    return []
  }
}

const indices = (names: string[], re: RegExp): number[] =>
  names.flatMap((n) => {
    const m = re.exec(n)
    return m === null ? [] : [Number(m[1])]
  })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const union = (xs: number[][]) => [...new Set(xs.flat())].sort((a, b) => a - b)

/** Checks the parts of a sidecar the reducer relies on; returns a problem or undefined. */
const sidecarProblem = (s: unknown): string | undefined => {
  const o = s as Partial<CountsSidecar>
  if (typeof o !== 'object' || o === null) return 'sidecar is not a JSON object'
  if (o.format !== COUNTS_FORMAT) return `sidecar format is ${JSON.stringify(o.format)}, expected '${COUNTS_FORMAT}'`
  if (o.binning !== 'gamma-ring-quantiles') return `binning ${JSON.stringify(o.binning)} is not supported (expected 'gamma-ring-quantiles')`
  if (!Array.isArray(o.grids)) return 'sidecar has no grids array'
  for (const g of o.grids)
    if (![g.n, g.offset, g.points, g.invalid].every((v) => Number.isInteger(v) && v >= 0))
      return `sidecar grid ${JSON.stringify(g)} needs non-negative integers n, offset, points, invalid`
  return undefined
}

interface Shard {
  readonly sidecar: CountsSidecar
  readonly counts: Float64Array
}

const readShard = async (base: string): Promise<Shard | string> => {
  let sidecarText: string
  try {
    sidecarText = await readFile(base + '.json', 'utf8')
  } catch {
    return 'missing'
  }
  let sidecar: unknown
  try {
    sidecar = JSON.parse(sidecarText)
  } catch (e) {
    return `sidecar is not JSON (${(e as Error).message})`
  }
  const problem = sidecarProblem(sidecar)
  if (problem !== undefined) return problem
  let counts: Float64Array
  try {
    // a plain Uint8Array copy: decodeNpy's slice() would share a pooled Buffer's memory
    counts = npyNumbers(decodeNpy(new Uint8Array(await readFile(base + '.npy')), 'counts'))
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'sidecar present but .npy missing' : (e as Error).message
  }
  const sc = sidecar as CountsSidecar
  for (const g of sc.grids) {
    if (g.offset + g.n * g.n > counts.length) return `grid ${g.n} runs past the end of the counts (${counts.length} values)`
    let s = 0
    for (let j = 0; j < g.n * g.n; j++) s += counts[g.offset + j]
    if (s !== g.points - g.invalid)
      return `grid ${g.n} counts sum to ${s}, the sidecar says ${g.points} points of which ${g.invalid} invalid`
  }
  return { sidecar: sc, counts }
}

// -------------------------------------------------------------------------------------
// reading
// -------------------------------------------------------------------------------------

/**
 * Reads every group's counts under `runDir`. Throws `MissingCountsError` when anything expected
 * is missing or unreadable, unless `allowPartial` (then `missing` lists it).
 */
export const readRunCounts = async (
  runDir: string,
  opts: { readonly allowPartial?: boolean; readonly expect?: CountsExpectation } = {},
): Promise<RunCounts> => {
  const ex = opts.expect ?? {}
  const top = await listDir(runDir)
  const found: string[] = []
  for (const name of top.filter((n) => n.endsWith('/'))) {
    const sub = await listDir(join(runDir, name))
    if (sub.some((n) => /^seed-\d+\/$/.test(n))) found.push(name.slice(0, -1))
  }
  const groupNames = ex.groups ? [...ex.groups] : found.sort()
  if (groupNames.length === 0) throw new MissingCountsError([`${runDir}: no <group>/seed-<s>/ folders`])
  const missing: string[] = []
  const groups: GroupCounts[] = []

  for (const group of groupNames) {
    const gdir = join(runDir, group)
    const seedsFound = indices(await listDir(gdir), /^seed-(\d+)\/$/)
    const seeds = ex.seeds ? [...ex.seeds] : seedsFound.sort((a, b) => a - b)
    if (seeds.length === 0) missing.push(`${group}: no seeds`)
    // discover samples and shards across the group
    const sampleLists = new Map<number, number[]>()
    const shardLists: number[][] = []
    for (const s of seeds) {
      const samples = indices(await listDir(join(gdir, `seed-${s}`, 'counts')), /^sample-(\d+)\/$/)
      sampleLists.set(s, samples)
      for (const i of samples)
        shardLists.push(indices(await listDir(join(gdir, `seed-${s}`, 'counts', `sample-${i}`)), /^shard-(\d+)\.(?:npy|json)$/))
    }
    const samples = ex.samples !== undefined ? range(ex.samples) : union([...sampleLists.values()])
    const shardsFound = union(shardLists)
    const shards = ex.shards !== undefined ? range(ex.shards) : shardsFound.length ? range(shardsFound[shardsFound.length - 1] + 1) : []

    // read and sum the shards of every (seed, sample)
    type Summed = { counts: Map<number, Float64Array>; invalid: Map<number, number> }
    const bySeed = new Map<number, Map<number, Summed>>()
    const gridSet = new Set<number>(ex.grids ?? [])
    for (const s of seeds) {
      const perSample = new Map<number, Summed>()
      for (const i of samples) {
        const key = `${group}/seed-${s}/counts/sample-${i}`
        if (shards.length === 0) {
          missing.push(`${key}/shard-0`)
          continue
        }
        const summed: Summed = { counts: new Map(), invalid: new Map() }
        let ok = true
        for (const k of shards) {
          const shard = await readShard(join(gdir, `seed-${s}`, 'counts', `sample-${i}`, `shard-${k}`))
          if (typeof shard === 'string') {
            missing.push(shard === 'missing' ? `${key}/shard-${k}` : `${key}/shard-${k}: ${shard}`)
            ok = false
            continue
          }
          for (const g of shard.sidecar.grids) {
            if (ex.grids === undefined) gridSet.add(g.n)
            const acc = summed.counts.get(g.n) ?? new Float64Array(g.n * g.n)
            for (let j = 0; j < g.n * g.n; j++) acc[j] += shard.counts[g.offset + j]
            summed.counts.set(g.n, acc)
            summed.invalid.set(g.n, (summed.invalid.get(g.n) ?? 0) + g.invalid)
          }
        }
        if (ok) perSample.set(i, summed)
      }
      bySeed.set(s, perSample)
    }
    const grids = [...gridSet].sort((a, b) => a - b)

    // every complete sample must hold every grid
    for (const [s, perSample] of bySeed)
      for (const [i, summed] of perSample) {
        const absent = grids.filter((n) => !summed.counts.has(n))
        if (absent.length > 0) {
          missing.push(...absent.map((n) => `${group}/seed-${s}/counts/sample-${i}: grid ${n}`))
          perSample.delete(i)
        }
      }

    const gridCounts: GridCounts[] = grids.map((n) => {
      const bins = n * n
      const seedCounts: SeedCounts[] = []
      const invalid: number[] = []
      for (const s of seeds) {
        const perSample = bySeed.get(s)!
        const use = samples.filter((i) => perSample.has(i))
        if (use.length < 2) continue
        const flat = new Float64Array(use.length * bins)
        let bad = 0
        use.forEach((i, r) => {
          flat.set(perSample.get(i)!.counts.get(n)!, r * bins)
          bad += perSample.get(i)!.invalid.get(n)!
        })
        seedCounts.push(quantileSeedCounts(s, use.length, bins, flat))
        invalid.push(bad)
      }
      return { n, seeds: seedCounts, invalid }
    })
    for (const s of seeds) {
      const have = samples.filter((i) => bySeed.get(s)!.has(i)).length
      if (have < 2 && samples.length > 0) missing.push(`${group}/seed-${s}: ${have} usable sample(s), at least 2 needed`)
    }
    groups.push({ group, grids: gridCounts.filter((g) => g.seeds.length > 0) })
  }

  const unique = [...new Set(missing)]
  if (unique.length > 0 && !opts.allowPartial) throw new MissingCountsError(unique)
  return { groups: groups.filter((g) => g.grids.length > 0), missing: unique }
}
