/**
 * Conditional flow matching (paper eq. 3.4): fits the vector field so that its flow carries the
 * standard Gaussian at t = 0 to the data at t = 1. Per step, a batch of data points x1, latents
 * x0 ~ N(0, I) and times t ~ U(0, 1) give x_t = (1 − (1 − σ_min)·t)·x0 + t·x1 and the target
 * u = x1 − (1 − σ_min)·x0; the loss is the batch mean of ‖v(t, x_t) − u‖² (summed over
 * dimensions, as the reference code does), its gradient comes from the fused kernel, and Adam or
 * AdamW updates the parameters.
 *
 * Randomness (all from one `Randomness` keyed by the seed, so a seed fixes the whole training):
 * - initialisation: stream STREAMS.init, index k for parameter k: θ_k = (2u − 1)/√fan_in as
 *   PyTorch's `nn.Linear` default does (weights and biases alike);
 * - batches: the data are visited as a sequence of random permutations, permutation r being a
 *   Fisher–Yates shuffle driven by indices [rN, (r + 1)N) of STREAMS.permutation; step s takes
 *   positions [s·B, (s + 1)·B) of that sequence. With the defaults (N = 10 000, 10 batches of
 *   1000) an epoch is one permutation, as in the reference code;
 * - t of point i of step s: index s·B + i of STREAMS.time; x0: point s·B + i of STREAMS.latent.
 * A skipped step still consumes its draws, so skipping does not shift later steps.
 *
 * The loss and gradient of a batch are computed chunk by chunk (parallel.ts: `chunks` chunks,
 * 8 by default, summed in chunk order with weights n_c/B), on `parallel`'s threads when given: the
 * trained parameters depend on the number of chunks, not on the number of threads.
 */
import type { Core } from '../core/wasm.ts'
import { type Mlp, type MlpSpec, layerOffsets, mlp, parameterCount, specProblem } from '../model/spec.ts'
import { Adam, type OptimizerOptions, optimizerDefaults, optimizerProblem } from './adam.ts'
import { trainKernels } from './backprop.ts'
import { ChunkedGradient, parallelProblem } from './parallel.ts'
import { type Randomness, philoxRandomness } from './random.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Stream numbers of a training's draws ("tr" in the top half, apart from the data streams). */
export const STREAMS = { init: 0x74720000, permutation: 0x74720001, time: 0x74720002, latent: 0x74720003 } as const

export interface EpochReport {
  /** 0-based. */
  readonly epoch: number
  /** Mean loss of the epoch's finite steps (NaN when all were skipped). */
  readonly loss: number
  /** Steps skipped so far in the training. */
  readonly skipped: number
}

/** What every CFM-loss training takes (plain CFM here, VIB in vib.ts). */
export interface CfmBatchOptions {
  readonly spec: MlpSpec
  /** Training points, row-major `[N, d]`. */
  readonly data: Float32Array | Float64Array
  readonly epochs: number
  /** @default 1000 */
  readonly batchSize?: number
  /** @default 10 */
  readonly batchesPerEpoch?: number
  /** @default 1e-3 */
  readonly lr?: number
  /** @default - Adam with PyTorch's defaults (see `optimizerDefaults`); missing fields take the defaults of `kind` */
  readonly optimizer?: Partial<OptimizerOptions>
  /** @default 1e-4 */
  readonly sigmaMin?: number
  /** Integer in [0, 2^32). */
  readonly seed: number
  /** Starting parameters. @default - PyTorch's `nn.Linear` initialisation from the seed */
  readonly init?: Mlp | Float32Array
  /** Abort after this many consecutive non-finite steps. @default 10 */
  readonly maxConsecutiveSkips?: number
  /** @default - philoxRandomness(core, seed) */
  readonly randomness?: Randomness
  /** Threads for the batches' chunks (not closed here). @default - every chunk in this thread */
  readonly parallel?: ChunkedGradient
  /** Chunks per batch when `parallel` is not given (it has its own). @default DEFAULT_CHUNKS */
  readonly chunks?: number
}

export interface CfmOptions extends CfmBatchOptions {
  readonly onEpoch?: (report: EpochReport) => void
}

export interface CfmResult {
  readonly model: Mlp
  /** Per epoch, the mean loss of its finite steps. */
  readonly losses: number[]
  /** Steps skipped because their loss or gradient was not finite. */
  readonly skipped: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** PyTorch's `nn.Linear` default: every weight and bias of a layer U(−1/√fan_in, 1/√fan_in). */
export const initParams = (spec: MlpSpec, rnd: Randomness): Float32Array => {
  const u = rnd.uniforms(STREAMS.init, 0, parameterCount(spec))
  const out = new Float32Array(u.length)
  for (const L of layerOffsets(spec)) {
    const bound = 1 / Math.sqrt(L.in)
    for (let k = L.w; k < L.b + L.out; k++) out[k] = (2 * u[k] - 1) * bound
  }
  return out
}

// -------------------------------------------------------------------------------------
// training
// -------------------------------------------------------------------------------------

const isCount = (x: number, min: number): boolean => Number.isInteger(x) && x >= min

/** The options shared by the trainings, checked; a message naming the offending field, or undefined. */
export const trainingProblem = (
  o: Pick<CfmOptions, 'spec' | 'data' | 'epochs' | 'seed'>,
  batchSize: number,
  batchesPerEpoch: number,
  sigmaMin: number,
): string | undefined => {
  const sp = specProblem(o.spec)
  if (sp !== undefined) return `spec: ${sp}`
  const d = o.spec.dim
  if (o.data.length % d !== 0) return `data has ${o.data.length} values, not a whole number of points of dimension ${d}`
  const N = o.data.length / d
  if (!isCount(o.epochs, 0)) return `epochs must be a non-negative integer, got ${o.epochs}`
  if (!isCount(batchSize, 1)) return `batchSize must be a positive integer, got ${batchSize}`
  if (!isCount(batchesPerEpoch, 1)) return `batchesPerEpoch must be a positive integer, got ${batchesPerEpoch}`
  if (N < batchSize) return `data has ${N} points, fewer than one batch of ${batchSize}`
  if (!(sigmaMin >= 0 && sigmaMin < 1)) return `sigmaMin must lie in [0, 1), got ${sigmaMin}`
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) return `seed must be an integer in [0, 2^32), got ${o.seed}`
  for (let k = 0; k < o.data.length; k++)
    if (!Number.isFinite(o.data[k])) return `data point ${Math.floor(k / d)} has a non-finite coordinate (${o.data[k]})`
  return undefined
}

/** A CFM-loss training's options with their defaults, checked, and what they lead to. */
export interface CfmSettings {
  readonly spec: MlpSpec
  readonly d: number
  /** Training points. */
  readonly N: number
  /** Parameters of the field. */
  readonly P: number
  /** Batch size. */
  readonly B: number
  readonly batchesPerEpoch: number
  readonly sigmaMin: number
  readonly lr: number
  readonly optimizer: OptimizerOptions
  readonly maxSkips: number
  readonly gradient: ChunkedGradient
  readonly rnd: Randomness
  /** Starting parameters (the given ones, or PyTorch's initialisation from the seed). */
  readonly init: Float32Array
}

/**
 * The settings of a CFM-loss training (plain CFM, VIB): defaults applied, the shared options
 * checked, then `more()` (the method's own checks); a RangeError names `who` and the field.
 */
export const cfmSettings = (
  who: string,
  core: Core,
  opts: CfmBatchOptions,
  more: () => string | undefined = () => undefined,
): CfmSettings => {
  const B = opts.batchSize ?? 1000
  const batchesPerEpoch = opts.batchesPerEpoch ?? 10
  const sigmaMin = opts.sigmaMin ?? 1e-4
  const lr = opts.lr ?? 1e-3
  const maxSkips = opts.maxConsecutiveSkips ?? 10
  const optimizer: OptimizerOptions = { ...optimizerDefaults(opts.optimizer?.kind ?? 'adam'), ...opts.optimizer }
  const problem = trainingProblem(opts, B, batchesPerEpoch, sigmaMin) ?? optimizerProblem(optimizer, lr) ?? more()
  if (problem !== undefined) throw new RangeError(`${who}: ${problem}`)
  if (!isCount(maxSkips, 1)) throw new RangeError(`${who}: maxConsecutiveSkips must be a positive integer, got ${maxSkips}`)
  const gradient = chunkedGradient(who, core, opts)
  const spec = opts.spec
  const rnd = opts.randomness ?? philoxRandomness(core, opts.seed)
  const start = opts.init === undefined ? initParams(spec, rnd) : 'params' in opts.init ? opts.init.params : opts.init
  return {
    spec,
    d: spec.dim,
    N: opts.data.length / spec.dim,
    P: parameterCount(spec),
    B,
    batchesPerEpoch,
    sigmaMin,
    lr,
    optimizer,
    maxSkips,
    gradient,
    rnd,
    init: mlp(spec, start).params,
  }
}

/**
 * The batch of a CFM-loss training in the core (allocated here: call inside the training's
 * scope): `fill(s)` draws step s (stepDraws) and forms its regression pairs, times `t` [B], x_t and
 * u SoA [d][B]; `views()` are their typed arrays for the chunked gradient.
 */
export const cfmBatch = (core: Core, o: CfmSettings, data: Float32Array | Float64Array) => {
  const { B, d } = o
  const pairs = trainKernels(core).cfmPairs
  const points = core.putF32(data)
  const idx = core.allocU32(B)
  const t = core.allocF32(B)
  const x0 = core.allocF32(B * d)
  const xt = core.allocF32(B * d)
  const u = core.allocF32(B * d)
  const draws = stepDraws(core, o.rnd, o.N, B, d, { idx, t, x0 })
  return {
    fill: (s: number): void => {
      draws(s)
      pairs(points, idx, x0, t, B, d, o.sigmaMin, xt, u)
    },
    views: () => ({ t: core.f32(t, B), xt: core.f32(xt, B * d), u: core.f32(u, B * d) }),
  }
}

/**
 * Counts the steps skipped for a non-finite loss or gradient; `maxSkips` in a row throw an Error
 * that says where and what to try.
 */
export class SkipCounter {
  skipped = 0
  private run = 0

  constructor(
    private readonly who: string,
    private readonly o: Pick<CfmSettings, 'maxSkips' | 'lr'>,
  ) {}

  ok(): void {
    this.run = 0
  }

  skip(epoch: number, batch: number, loss: number): void {
    this.skipped += 1
    this.run += 1
    if (this.run >= this.o.maxSkips)
      throw new Error(
        `${this.who}: ${this.run} consecutive steps had a non-finite loss or gradient (last: epoch ${epoch}, ` +
          `batch ${batch}, loss ${loss}); lower the learning rate (lr = ${this.o.lr}) or check the data's scale`,
      )
  }
}

/**
 * Trains the vector field by conditional flow matching with Adam or AdamW. Steps whose loss or
 * gradient is not finite are skipped (no update, optimizer state untouched) and counted;
 * `maxConsecutiveSkips` of them in a row abort with an Error. Deterministic: the same options
 * and seed give the same parameters bit for bit on the same core variant.
 */
export const trainCfm = (core: Core, opts: CfmOptions): CfmResult => {
  const o = cfmSettings('trainCfm', core, opts)
  const { spec, P } = o
  return core.scoped(() => {
    const batch = cfmBatch(core, o, opts.data)
    const params = core.putF32(o.init)
    const grad = core.allocF32(P)
    const adam = new Adam(core, P, o.lr, o.optimizer)
    const skips = new SkipCounter('trainCfm', o)
    const losses: number[] = []
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      let sum = 0
      let finite = 0
      for (let b = 0; b < o.batchesPerEpoch; b++) {
        batch.fill(epoch * o.batchesPerEpoch + b)
        const { t, xt, u } = batch.views()
        const loss = o.gradient.cfm(spec, core.f32(params, P), t, xt, u, core.f32(grad, P))
        if (Number.isFinite(loss) && allFinite(core.f32(grad, P))) {
          adam.update(params, grad)
          sum += loss
          finite += 1
          skips.ok()
        } else skips.skip(epoch, b, loss)
      }
      const mean = finite > 0 ? sum / finite : Number.NaN
      losses.push(mean)
      opts.onEpoch?.({ epoch, loss: mean, skipped: skips.skipped })
    }
    return { model: mlp(spec, core.f32(params, P)), losses, skipped: skips.skipped }
  })
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The ChunkedGradient of a training: `o.parallel` (which must use `core`'s variant and, when
 * `o.chunks` is given too, that many chunks), or an in-thread one with `o.chunks` chunks.
 */
export const chunkedGradient = (
  who: string,
  core: Core,
  o: { readonly parallel?: ChunkedGradient; readonly chunks?: number },
): ChunkedGradient => {
  if (o.parallel === undefined) {
    const problem = parallelProblem({ chunks: o.chunks })
    if (problem !== undefined) throw new RangeError(`${who}: ${problem}`)
    return ChunkedGradient.inThread({ chunks: o.chunks, variant: core.variant })
  }
  if (o.parallel.variant !== core.variant)
    throw new RangeError(`${who}: the parallel gradient runs the ${o.parallel.variant} core, the training the ${core.variant} core`)
  if (o.chunks !== undefined && o.chunks !== o.parallel.chunks)
    throw new RangeError(`${who}: chunks is ${o.chunks} but the parallel gradient cuts batches into ${o.parallel.chunks}`)
  return o.parallel
}

/**
 * The batches of a training: the data are visited as a sequence of random permutations,
 * permutation r a Fisher–Yates shuffle (the core's shuffle_indices) driven by the uniforms
 * [rN, (r + 1)N) of `stream`; the returned function writes the indices of step s (positions
 * [sB, (s + 1)B) of that sequence) as i32 to `idxPtr`. The permutation and its uniforms live in
 * the core (allocated here: call inside the caller's scope).
 */
export const batchSequence = (
  core: Core,
  rnd: Randomness,
  N: number,
  B: number,
  idxPtr: number,
  stream: number = STREAMS.permutation,
): ((s: number) => void) => {
  const k = trainKernels(core)
  const perm = core.alloc(4 * N)
  const w = core.allocF64(N)
  let pass = -1
  return (s) => {
    const mem = new Int32Array(core.exports.memory.buffer)
    // copied run by run: positions [sB, (s + 1)B) meet at most ⌈B/N⌉ + 1 permutations
    for (let i = 0; i < B; ) {
      const q = s * B + i
      const r = Math.floor(q / N)
      if (r !== pass) {
        rnd.uniformsPtr(stream, r * N, N, w)
        k.shuffleIndices(w, N, perm)
        pass = r
      }
      const from = q - r * N
      const len = Math.min(B - i, N - from)
      mem.copyWithin((idxPtr >> 2) + i, (perm >> 2) + from, (perm >> 2) + from + len)
      i += len
    }
  }
}

/**
 * The draws of step s of a CFM-loss training, written into the core: the batch's indices
 * (batchSequence) to `idx`, its times t ~ U(0, 1) (uniforms s·B + i of STREAMS.time, rounded to
 * f32) to `t`, its latents x0 ~ N(0, I) (points s·B + i of STREAMS.latent, SoA) to `x0`.
 */
export const stepDraws = (
  core: Core,
  rnd: Randomness,
  N: number,
  B: number,
  d: number,
  ptr: { readonly idx: number; readonly t: number; readonly x0: number },
): ((s: number) => void) => {
  const batch = batchSequence(core, rnd, N, B, ptr.idx)
  const demote = trainKernels(core).demoteF64
  const tF64 = core.allocF64(B)
  return (s) => {
    batch(s)
    rnd.uniformsPtr(STREAMS.time, s * B, B, tF64)
    demote(tF64, B, ptr.t)
    rnd.normalsPtr(STREAMS.latent, s * B, B, d, ptr.x0)
  }
}

/** True when every value is finite. */
export const allFinite = (a: Float32Array): boolean => {
  for (let k = 0; k < a.length; k++) if (!Number.isFinite(a[k])) return false
  return true
}
