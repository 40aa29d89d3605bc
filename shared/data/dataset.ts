/**
 * Training sets: the Gamma ring drawn from the counter-based generator, or the user's own points
 * from a `.npy` of shape `[N, d]` (float32 or float64), checked before any training starts.
 */
import { sampleRing } from './gamma-ring.ts'
import type { Core } from '../core/wasm.ts'
import { type NpyArray, readNpy } from '../io/npy.ts'

export type DataSource =
  | { readonly kind: 'gamma-ring' }
  | { readonly kind: 'npy'; readonly path: string }

/** Row-major `[n, d]` points. */
export interface Dataset {
  readonly points: Float32Array
  readonly n: number
  readonly d: number
  /** Where the points came from, for manifests and logs. */
  readonly source: string
}

/** Checks a decoded `.npy` as a training set; returns the problem, or undefined. */
export const datasetProblem = (a: NpyArray): string | undefined => {
  if (a.dtype !== '<f4' && a.dtype !== '<f8') return `dtype ${a.dtype} is not float32 or float64`
  if (a.shape.length !== 2) return `shape (${a.shape.join(', ')}) is not [N, d]`
  if (a.shape[0] < 1 || a.shape[1] < 1) return `shape (${a.shape.join(', ')}) is empty`
  const bad = (a.data as Float32Array | Float64Array).findIndex((v) => !Number.isFinite(v))
  if (bad >= 0) {
    const d = a.shape[1]
    return `point ${Math.floor(bad / d)} (row ${Math.floor(bad / d)}, column ${bad % d}) is not finite: ${a.data[bad]}`
  }
  return undefined
}

/**
 * The first `n` points of a source. The ring's points depend only on (seed, index), so the first
 * `n` of a larger draw are the same points; a `.npy` must hold at least `n` rows.
 */
export const loadDataset = async (core: Core, source: DataSource, n: number, seed: number): Promise<Dataset> => {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`training size must be a positive integer, got ${n}`)
  if (source.kind === 'gamma-ring')
    return { points: sampleRing(core, seed, n), n, d: 2, source: `gamma-ring (seed ${seed})` }
  const a = await readNpy(source.path)
  const problem = datasetProblem(a)
  if (problem !== undefined) throw new Error(`${source.path}: not a usable training set: ${problem}`)
  const [rows, d] = a.shape
  if (rows < n) throw new Error(`${source.path}: holds ${rows} points, the training size is ${n}`)
  return { points: Float32Array.from(a.data.subarray(0, n * d) as Float32Array | Float64Array), n, d, source: source.path }
}
