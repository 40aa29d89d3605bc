/**
 * The counts file of a generation: a `.npy` of int64 holding every grid's `n × n` counts
 * concatenated (bin (j_r, j_φ) of grid b at offset_b + j_r · n_b + j_φ), and a sidecar JSON beside
 * it (same name, `.json`) that names the grids, the points each counted, the invalid points, and
 * how the counts were made. Both are written atomically, the sidecar last: a sidecar present means
 * a complete result. Nothing in them depends on timing, so a rerun writes the same bytes.
 */
import { writeFileAtomic } from '../io/atomic.ts'
import { encodeNpy } from '../io/npy.ts'
import type { GenerationResult } from './generate.ts'
import { gridCounted, gridOffsets } from './plan.ts'

export const COUNTS_FORMAT = 'bayesamp.counts/1'

export interface CountsSidecar {
  readonly format: typeof COUNTS_FORMAT
  readonly model: { readonly name: string; readonly sha256: string }
  readonly evaluator: GenerationResult['evaluator']
  readonly seed: number
  readonly stream: number
  readonly solver: GenerationResult['plan']['solver']
  readonly chunkSize: number
  /** Points generated: the range's. */
  readonly totalPoints: number
  /** The latent indices generated (a shard of the sample, or all of it). */
  readonly range: { readonly start: number; readonly end: number }
  readonly pointsPerBin: number | null
  readonly binning: 'gamma-ring-quantiles'
  readonly grids: ReadonlyArray<{
    readonly n: number
    readonly offset: number
    /** Points of the range this grid counted (prefix rule), valid and invalid. */
    readonly points: number
    /** Points that were NaN or infinite: counted apart, in no bin. */
    readonly invalid: number
  }>
  readonly evaluations: number
  readonly rejectedSteps: number
}

/** `counts.npy` → `counts.json`. */
export const sidecarPath = (npyPath: string): string => {
  if (!npyPath.endsWith('.npy')) throw new RangeError(`counts output must end in .npy, got ${npyPath}`)
  return npyPath.slice(0, -'.npy'.length) + '.json'
}

export const sidecarOf = (result: GenerationResult, model: { name: string; sha256: string }): CountsSidecar => {
  const { plan } = result
  const limits = gridCounted(plan)
  const offsets = gridOffsets(plan.grids)
  return {
    format: COUNTS_FORMAT,
    model,
    evaluator: result.evaluator,
    seed: plan.seed,
    stream: plan.stream,
    solver: plan.solver,
    chunkSize: plan.chunkSize,
    totalPoints: result.totalPoints,
    range: result.range,
    pointsPerBin: plan.count.kind === 'perBin' ? plan.count.pointsPerBin : null,
    binning: 'gamma-ring-quantiles',
    grids: plan.grids.map((n, b) => ({ n, offset: offsets[b], points: limits[b], invalid: result.invalid[b] })),
    evaluations: result.evaluations,
    rejectedSteps: result.rejected,
  }
}

/** All grids' counts, concatenated, as int64. */
export const concatCounts = (counts: readonly Float64Array[]): BigInt64Array => {
  const out = new BigInt64Array(counts.reduce((a, c) => a + c.length, 0))
  let at = 0
  for (const c of counts) for (const v of c) out[at++] = BigInt(v)
  return out
}

/** The bytes of a counts file and of its sidecar. */
export const countsBytes = (
  result: GenerationResult,
  model: { name: string; sha256: string },
): { npy: Uint8Array; sidecar: Uint8Array; meta: CountsSidecar } => {
  const meta = sidecarOf(result, model)
  const flat = concatCounts(result.counts)
  return {
    npy: encodeNpy([flat.length], flat),
    sidecar: new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n'),
    meta,
  }
}

/** Writes `counts.npy` and its sidecar, atomically, the sidecar last. */
export const writeCounts = async (
  npyPath: string,
  result: GenerationResult,
  model: { name: string; sha256: string },
): Promise<CountsSidecar> => {
  const { npy, sidecar, meta } = countsBytes(result, model)
  await writeFileAtomic(npyPath, npy)
  await writeFileAtomic(sidecarPath(npyPath), sidecar)
  return meta
}
