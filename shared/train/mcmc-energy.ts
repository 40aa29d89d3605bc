/**
 * The energy AdamMCMC samples from (section 3.2): the negative log-likelihood of the training set
 * under the CNF, estimated on a minibatch and scaled to the whole set,
 *
 *   U(θ) = (N / B) · Σ_{i ∈ batch} −log p_θ(x_i),
 *
 * as the reference code does, so that λ = 1 targets the untempered posterior (3.11). The log-
 * likelihood and its exact gradient come from the WASM kernel (shared/train/loglik.ts): fixed-step
 * solver from data to latent, exact divergence, backpropagation through the solver steps. No prior
 * term (the reference has none). Iteration k uses batch k of a sequence of random permutations of
 * the data on its own stream, so the chain's θ and its proposal τ are scored on the same batch.
 *
 * The batch is cut into `chunks` chunks (parallel.ts, 8 by default), each scored with the same
 * scale N/B and summed in chunk order, on `parallel`'s threads when given: the energy and its
 * gradient depend on the number of chunks, not on the number of threads.
 */
import type { Core } from '../core/wasm.ts'
import { type MlpSpec, parameterCount } from '../model/spec.ts'
import type { Energy } from './adam-mcmc.ts'
import { batchSequence, chunkedGradient } from './cfm.ts'
import { loglikOptionsProblem } from './loglik.ts'
import type { ChunkedGradient } from './parallel.ts'
import { philoxRandomness } from './random.ts'

/** The permutation stream of the chain's minibatches (apart from CFM pretraining's). */
export const MCMC_BATCH_STREAM = 0x6d630010

export interface McmcEnergyOptions {
  readonly spec: MlpSpec
  /** The training set, row-major `[N, d]`. */
  readonly data: Float32Array
  readonly batchSize: number
  readonly batchesPerEpoch: number
  readonly seed: number
  readonly solver: { readonly kind: 'euler' | 'midpoint' | 'rk4'; readonly steps: number }
  /** Threads for the batches' chunks (not closed here). @default - every chunk in this thread */
  readonly parallel?: ChunkedGradient
  /** Chunks per batch when `parallel` is not given (it has its own). @default DEFAULT_CHUNKS */
  readonly chunks?: number
}

/**
 * The minibatch energy of AdamMCMC; its `grad` is one buffer reused from call to call (the sampler
 * copies it at once).
 */
export const mcmcEnergy = (core: Core, o: McmcEnergyOptions): Energy => {
  const loglik = { solver: o.solver.kind, steps: o.solver.steps }
  const problem = loglikOptionsProblem(loglik)
  if (problem !== undefined) throw new RangeError(`mcmcEnergy: solver: ${problem}`)
  const gradient = chunkedGradient('mcmcEnergy', core, o)
  const d = o.spec.dim
  const n = o.data.length / d
  const B = Math.min(o.batchSize, n)
  const idxPtr = core.alloc(4 * B)
  const next = batchSequence(core, philoxRandomness(core, o.seed), n, B, idxPtr, MCMC_BATCH_STREAM)
  // the batch SoA [d][B], as the kernels read it
  const batch = new Float32Array(B * d)
  const grad = new Float32Array(parameterCount(o.spec))
  const scale = n / B
  return (theta, iteration) => {
    next(iteration)
    const idx = core.i32(idxPtr, B)
    for (let i = 0; i < B; i++) for (let j = 0; j < d; j++) batch[j * B + i] = o.data[idx[i] * d + j]
    const energy = gradient.energy(o.spec, theta, batch, loglik, scale, grad)
    return { energy, grad }
  }
}
