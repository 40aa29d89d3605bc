/**
 * What a training leaves behind: its posterior samples as ONNX files, a manifest describing how
 * they were made, and the training set — as (relative name, bytes) pairs in the order they must be
 * written. The manifest comes last: a manifest present means a complete posterior, so a stage that
 * finds it can skip the training.
 */
import { createHash } from 'node:crypto'
import { encodeNpy } from '../io/npy.ts'
import { exportOnnx } from '../model/onnx.ts'
import { type Mlp, type MlpSpec, parameterCount } from '../model/spec.ts'

export const MANIFEST_FORMAT = 'bayesamp.posterior/1'

export type Method = 'cfm' | 'vib' | 'mcmc'

/**
 * How a training computed: with the same config and seed, the same core build and chunks per batch
 * give the same weights bit for bit, whatever the number of threads (recorded for the reader).
 */
export interface Compute {
  readonly core: 'wasm-simd' | 'wasm-relaxed'
  readonly chunks: number
  readonly threads: number
}

/** What a training reports about itself, in memory (TrainedPosterior) and in its manifest alike. */
interface TrainingRecord {
  readonly method: Method
  /** The method's hyperparameters, exactly as the training used them. */
  readonly hyperparameters: Readonly<Record<string, unknown>>
  readonly seed: number
  readonly epochs: number
  /** Per epoch: the training loss (CFM loss; for VIB the data term; for AdamMCMC the energy). */
  readonly loss: readonly number[]
  /** VIB only: the KL term per epoch. */
  readonly kl?: readonly number[]
  /** AdamMCMC only: acceptance rate per stretch of the chain. */
  readonly acceptance?: readonly number[]
  readonly nonFiniteSteps: number
  readonly wallSeconds: number
  readonly compute: Compute
}

export interface PosteriorManifest extends TrainingRecord {
  readonly format: typeof MANIFEST_FORMAT
  readonly spec: MlpSpec
  readonly parameters: number
  readonly data: { readonly source: string; readonly n: number; readonly d: number; readonly file: string }
  readonly samples: ReadonlyArray<{ readonly file: string; readonly sha256: string }>
  /** Free-form notes: what the method did that a reader should know (stopping epoch, pretraining). */
  readonly notes: readonly string[]
}

export interface TrainedPosterior extends TrainingRecord {
  readonly data: { readonly source: string; readonly points: Float32Array; readonly n: number; readonly d: number }
  readonly samples: readonly Mlp[]
  readonly notes?: readonly string[]
}

export const sampleName = (i: number): string => `posterior/sample-${i}.onnx`
export const MANIFEST_NAME = 'posterior/manifest.json'
export const TRAINING_SET_NAME = 'posterior/training-set.npy'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The files of a posterior, in write order (manifest last). */
export const posteriorFiles = (p: TrainedPosterior): Array<readonly [string, Uint8Array]> => {
  if (p.samples.length === 0) throw new RangeError('a posterior needs at least one sample')
  const spec = p.samples[0].spec
  const onnx = p.samples.map((m, i) =>
    exportOnnx(m, { name: `bayesamp ${p.method} seed ${p.seed} sample ${i}`, metadata: { 'bayesamp.method': p.method } }),
  )
  const manifest: PosteriorManifest = {
    format: MANIFEST_FORMAT,
    method: p.method,
    hyperparameters: p.hyperparameters,
    spec,
    parameters: parameterCount(spec),
    seed: p.seed,
    data: { source: p.data.source, n: p.data.n, d: p.data.d, file: TRAINING_SET_NAME },
    epochs: p.epochs,
    loss: p.loss,
    ...(p.kl === undefined ? {} : { kl: p.kl }),
    ...(p.acceptance === undefined ? {} : { acceptance: p.acceptance }),
    nonFiniteSteps: p.nonFiniteSteps,
    wallSeconds: p.wallSeconds,
    compute: p.compute,
    samples: onnx.map((b, i) => ({ file: sampleName(i), sha256: sha256(b) })),
    notes: p.notes ?? [],
  }
  return [
    [TRAINING_SET_NAME, encodeNpy([p.data.n, p.data.d], p.data.points)],
    ...onnx.map((b, i) => [sampleName(i), b] as const),
    [MANIFEST_NAME, new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n')],
  ]
}
