/**
 * Mean-field variational inference for the vector field ("VIB", paper section 3.1, eq. 3.6):
 * q(θ) = N(μ, σ²) per weight with σ = softplus(ρ), prior N(0, s²) per weight (s = `priorScale`,
 * 1 by default), trained on
 *
 *   L = E_q[L_CFM] + λ · Σ_k c_k · KL(q_k ‖ p_k),   KL_k = ln(s/σ_k) + (σ_k² + μ_k²)/(2s²) − ½.
 *
 * E_q[L_CFM] is estimated on each batch with a weight draw per point, by one of two estimators
 * (`estimator`):
 * - 'local' (default), local reparameterization (wasm/assembly/vib.ts): every point's
 *   pre-activations are sampled from their exact Gaussian law under q, which is the same as
 *   drawing an independent weight set for every point; a Gaussian per point and neuron.
 * - 'flipout' (wasm/assembly/flipout.ts): one Gaussian weight perturbation per batch, flipped by
 *   random signs per point, so that every point's weights are a draw from q, decorrelated from the
 *   other points' rather than independent; far fewer random numbers (for the paper model a step
 *   costs 2.4 CFM steps, against 3.2 for local reparameterization: npm run bench).
 * Both estimate the same objective. The KL term and its gradient are closed form (no sampling).
 *
 * KL normalization (`klNormalization`, the weight c_k of weight k, with `k` the paper's knob):
 * - 'elbo' (default): c_k = k / N for every weight, N the training-set size. With k = 1 this is
 *   the negative evidence lower bound per data point (the CFM loss standing in for −log p per
 *   point), so k scales the prior's pull relative to the data exactly as a tempered ELBO does.
 * - 'paper': the normalization of the paper's reference code, under which its k ∈ {1, 5, 10, 50}
 *   were found: per weight tensor (each layer's W and each layer's b) the MEAN KL over its
 *   elements, summed over tensors, divided by the batch size B: c_k = k / (|tensor(k)| · B).
 *   For the paper model (tensors of 288, 32, 1024, 32, 1024, 32, 64, 2 elements) and B = 1000,
 *   a weight of a 1024-element matrix gets k/1 024 000 where 'elbo' with N = 10 000 gives
 *   k/10 000: the 'paper' k corresponds to a far weaker prior.
 *
 * Stopping (paper: "the earliest epoch after convergence of the KL-loss term"): the epoch's KL
 * is Σ_k KL_k (unweighted) averaged over the epoch's finite steps. After epoch e (count c = e+1,
 * c ≥ max(minEpochs, 2·window)) let A = mean of the last `window` epochs' KL and A' = mean of the
 * `window` epochs before them; training stops at the first e with |A − A'| ≤ tol·|A| (see
 * `klConverged`), or after `epochs` epochs.
 *
 * Posterior: `draws` weight sets θ⁽ʲ⁾ = μ + σ ∘ ε⁽ʲ⁾ from the final (μ, ρ), ε⁽ʲ⁾ the standard
 * normals of point j of VIB_STREAMS.posterior (dimension k for weight k), returned as Mlp.
 *
 * Randomness (seeded, counter-based): initialisation, batches, t and x0 exactly as trainCfm
 * (STREAMS of cfm.ts); the local-reparameterization noise of point p of step s is point s·B + p of
 * VIB_STREAMS.noise (rows R = the widths of all layer outputs; vib_noise in the core); flipout's
 * weight noise of step s for weight k is dimension ⌊k/H⌋ of point s·H + (k mod H) of
 * VIB_STREAMS.flipoutWeights (H = ⌈P/2⌉: both normals of every Box–Muller pair are used) and the
 * signs of point p are point s·B + p of VIB_STREAMS.flipoutSigns (flipout_signs in the core).
 *
 * The data term of a batch and its gradient are computed chunk by chunk (parallel.ts: `chunks`
 * chunks, 8 by default, each generating its own points' noise, summed in chunk order with weights
 * n_c/B), on `parallel`'s threads when given; the KL term once per step, in this thread. The trained
 * (μ, ρ) depend on the number of chunks, not on the number of threads.
 */
import { checkRange, normalsPtr } from '../core/rng.ts'
import type { Core } from '../core/wasm.ts'
import { type Mlp, type MlpSpec, inputWidth, layerOffsets, mlp, parameterCount } from '../model/spec.ts'
import { Adam } from './adam.ts'
import { fromSoa, putDescriptor, toSoa } from './backprop.ts'
import { type CfmBatchOptions, SkipCounter, allFinite, cfmBatch, cfmSettings } from './cfm.ts'
import type { VibNoise } from './parallel.ts'
import type { Randomness } from './random.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Stream numbers of the VIB draws ("vi" in the top half, apart from the CFM streams). */
export const VIB_STREAMS = { noise: 0x76690000, posterior: 0x76690001, flipoutWeights: 0x76690002, flipoutSigns: 0x76690003 } as const

/** How a batch's per-point weight draws are made (module header). */
export type VibEstimator = 'local' | 'flipout'

export const VIB_ESTIMATORS: readonly VibEstimator[] = ['local', 'flipout']

export type KlNormalization = 'elbo' | 'paper'

/** When the KL term counts as converged (see the module header and `klConverged`). */
export interface StopCriterion {
  /** Epochs per moving-average window. */
  readonly window: number
  /** Largest relative change between two consecutive window means. */
  readonly tol: number
  /** Never stop before this many epochs. */
  readonly minEpochs: number
}

/** Default stopping: windows of 100 epochs whose means differ by at most 0.1 %. */
export const STOP_DEFAULTS: StopCriterion = { window: 100, tol: 1e-3, minEpochs: 0 }

export interface VibEpochReport {
  /** 0-based. */
  readonly epoch: number
  /** Mean total loss (CFM under sampled weights + weighted KL) of the epoch's finite steps. */
  readonly loss: number
  /** Mean Σ_k KL_k of the epoch's finite steps. */
  readonly kl: number
  readonly skipped: number
}

export interface VibOptions extends CfmBatchOptions {
  /** Maximum number of epochs. */
  readonly epochs: number
  /** Initial μ, e.g. a CFM-trained model. @default - PyTorch's `nn.Linear` initialisation from the seed */
  readonly init?: Mlp | Float32Array
  /**
   * Initialisation, batches, t and x0 (as trainCfm); the reparameterization noise and the posterior
   * draws always come from the core's generators keyed by `seed`. @default - philoxRandomness(core, seed)
   */
  readonly randomness?: Randomness
  /** The paper's KL weight k (≥ 0). @default 1 */
  readonly k?: number
  /** @default 'local' */
  readonly estimator?: VibEstimator
  /** @default 'elbo' */
  readonly klNormalization?: KlNormalization
  /** Prior standard deviation s. @default 1 */
  readonly priorScale?: number
  /** Initial ρ of every weight (σ = softplus(ρ); −3 gives σ ≈ 0.0486). @default -3 */
  readonly rhoInit?: number
  /** Posterior weight draws n_VIB. @default 50 */
  readonly draws?: number
  /** @default STOP_DEFAULTS */
  readonly stop?: Partial<StopCriterion>
  readonly onEpoch?: (report: VibEpochReport) => void
}

export interface VibResult {
  /** The variational means μ at the stopping epoch. */
  readonly mean: Mlp
  /** ρ per weight (σ = softplus(ρ)), canonical order. */
  readonly rho: Float32Array
  /** `draws` posterior weight sets. */
  readonly samples: Mlp[]
  /** Per epoch, mean total loss. */
  readonly losses: number[]
  /** Per epoch, mean CFM loss under sampled weights. */
  readonly cfm: number[]
  /** Per epoch, mean Σ_k KL_k. */
  readonly kl: number[]
  /** The last epoch trained (0-based; −1 when `epochs` is 0). */
  readonly stoppedAt: number
  /** Whether training stopped by the KL criterion (false: it hit `epochs`). */
  readonly converged: boolean
  /** Steps skipped for a non-finite loss or gradient. */
  readonly skipped: number
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

interface VibKernels {
  readonly scratchBytes: (desc: number) => number
  readonly noiseRows: (desc: number) => number
  readonly prepare: (rho: number, eps: number, P: number, a: number, chain: number) => void
  readonly lossGrad: (
    mu: number,
    vr: number,
    chain: number,
    desc: number,
    t: number,
    xt: number,
    u: number,
    eps: number,
    n: number,
    gradMu: number,
    gradRho: number,
    scratch: number,
  ) => number
  readonly forward: (
    mu: number,
    vr: number,
    desc: number,
    t: number,
    x: number,
    eps: number,
    n: number,
    out: number,
    scratch: number,
  ) => void
  readonly kl: (
    mu: number,
    rho: number,
    n: number,
    priorScale: number,
    coef: number,
    gradMu: number,
    gradRho: number,
    out: number,
    eps: number,
    a: number,
    chain: number,
  ) => void
  readonly noise: (seed: number, stream: number, start: number, n: number, rows: number, out: number) => void
}

const vibKernels = (core: Core): VibKernels => ({
  scratchBytes: core.fn('vib_scratch_bytes'),
  noiseRows: core.fn('vib_noise_rows'),
  prepare: core.fn('vib_prepare'),
  lossGrad: core.fn('vib_loss_grad'),
  forward: core.fn('vib_forward'),
  kl: core.fn('vib_kl'),
  noise: core.fn('vib_noise'),
})

// -------------------------------------------------------------------------------------
// building blocks
// -------------------------------------------------------------------------------------

/** log(1 + e^x), without overflow. */
export const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))

/** Noise rows per point of the local reparameterization: the widths of all layer outputs. */
export const noiseRows = (spec: MlpSpec): number => spec.hidden.reduce((a, w) => a + w, 0) + spec.dim

/**
 * The per-weight KL coefficients c_k (canonical order) of a normalization; see the module header.
 * `N` is the training-set size, `B` the batch size.
 */
export const klCoefficients = (
  spec: MlpSpec,
  normalization: KlNormalization,
  k: number,
  N: number,
  B: number,
): Float32Array => {
  const c = new Float32Array(parameterCount(spec))
  if (normalization === 'elbo') return c.fill(k / N)
  if (normalization !== 'paper')
    throw new RangeError(`klNormalization must be 'elbo' or 'paper', got '${String(normalization)}'`)
  for (const L of layerOffsets(spec)) {
    c.fill(k / (L.in * L.out * B), L.w, L.w + L.in * L.out)
    c.fill(k / (L.out * B), L.b, L.b + L.out)
  }
  return c
}

/**
 * Standard normals for rows [0, rows) of points [start, start + n) of stream `stream` under `seed`,
 * from the core's SIMD generator (vib_noise), SoA `[rows][n]`.
 */
export const vibNoise = (
  core: Core,
  seed: number,
  stream: number,
  start: number,
  n: number,
  rows: number,
): Float32Array => {
  for (const [what, x, hi] of [
    ['seed', seed, 2 ** 32 - 1],
    ['stream', stream, 2 ** 32 - 1],
    ['n', n, 2 ** 31 - 1],
    ['rows', rows, 2 ** 20],
  ] as const)
    if (!Number.isInteger(x) || x < 0 || x > hi)
      throw new RangeError(`vibNoise: ${what} must be an integer in [0, ${hi}], got ${x}`)
  if (!Number.isInteger(start) || start < 0 || start > 2 ** 53 - n)
    throw new RangeError(`vibNoise: start must be an integer with start + n ≤ 2^53, got ${start}`)
  return core.scoped(() => {
    const p = core.allocF32(n * rows)
    vibKernels(core).noise(seed, stream, start, n, rows, p)
    return core.f32(p, n * rows).slice()
  })
}

const checkPoints = (what: string, x: ArrayLike<number>, n: number, d: number): void => {
  if (x.length !== n * d) throw new RangeError(`${what} has ${x.length} values, expected ${n} × ${d} = ${n * d}`)
}

/** a += b elementwise (f32: the f64 sum of two f32 values rounds to the f32 sum). */
const addInto = (a: Float32Array, b: Float32Array): void => {
  for (let k = 0; k < a.length; k++) a[k] += b[k]
}

/**
 * What ChunkedGradient's VIB losses take in place of ρ (vib_prepare): σ² and σ·sigmoid(ρ) for
 * local reparameterization, or with the batch's weight noise `eps` flipout's σ·ε and ε·sigmoid(ρ).
 */
export const vibPrepared = (core: Core, rho: ArrayLike<number>, eps?: ArrayLike<number>): { a: Float32Array; chain: Float32Array } =>
  core.scoped(() => {
    const P = rho.length
    if (eps !== undefined && eps.length !== P) throw new RangeError(`eps has ${eps.length} values, rho ${P}`)
    const a = core.allocF32(P)
    const chain = core.allocF32(P)
    vibKernels(core).prepare(core.putF32(rho), eps === undefined ? 0 : core.putF32(eps), P, a, chain)
    return { a: core.f32(a, P).slice(), chain: core.f32(chain, P).slice() }
  })

/** ρ into the core with vib_prepare's σ² (`vr`) and σ·sigmoid(ρ) (`chain`) beside it; call inside a scope. */
const putPrepared = (core: Core, rho: ArrayLike<number>): { vr: number; chain: number } => {
  const P = rho.length
  const vr = core.allocF32(P)
  const chain = core.allocF32(P)
  vibKernels(core).prepare(core.putF32(rho), 0, P, vr, chain)
  return { vr, chain }
}

/**
 * The VIB data term of a batch and its gradient with respect to μ (the model's parameters) and ρ,
 * from the fused kernel, with the noise given: `eps` row-major `[n, R]` (R = noiseRows(spec), the
 * layer outputs in order). `xt`, `u` row-major `[n, d]`.
 */
export const vibLossGrad = (
  core: Core,
  mean: Mlp,
  rho: ArrayLike<number>,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
  eps: ArrayLike<number>,
): { loss: number; gradMu: Float32Array; gradRho: Float32Array } => {
  const spec = mean.spec
  const n = t.length
  const P = mean.params.length
  const R = noiseRows(spec)
  if (n < 1) throw new RangeError('vibLossGrad needs at least one point')
  checkPoints('x_t', xt, n, spec.dim)
  checkPoints('u', u, n, spec.dim)
  checkPoints('eps', eps, n, R)
  if (rho.length !== P) throw new RangeError(`rho has ${rho.length} values, the model ${P} parameters`)
  const k = vibKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, spec)
    const gMu = core.allocF32(P)
    const gRho = core.allocF32(P)
    const { vr, chain } = putPrepared(core, rho)
    const loss = k.lossGrad(
      core.putF32(mean.params),
      vr,
      chain,
      desc,
      core.putF32(t),
      core.putF32(toSoa(xt, n, spec.dim)),
      core.putF32(toSoa(u, n, spec.dim)),
      core.putF32(toSoa(eps, n, R)),
      n,
      gMu,
      gRho,
      core.alloc(k.scratchBytes(desc)),
    )
    return { loss, gradMu: core.f32(gMu, P).slice(), gradRho: core.f32(gRho, P).slice() }
  })
}

/** The field under local reparameterization with the noise given (`eps` row-major `[n, R]`); v row-major `[n, d]`. */
export const vibForward = (
  core: Core,
  mean: Mlp,
  rho: ArrayLike<number>,
  t: ArrayLike<number>,
  x: ArrayLike<number>,
  eps: ArrayLike<number>,
): Float32Array => {
  const spec = mean.spec
  const n = t.length
  const R = noiseRows(spec)
  checkPoints('x', x, n, spec.dim)
  checkPoints('eps', eps, n, R)
  if (rho.length !== mean.params.length)
    throw new RangeError(`rho has ${rho.length} values, the model ${mean.params.length} parameters`)
  const k = vibKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, spec)
    const out = core.allocF32(n * spec.dim)
    k.forward(
      core.putF32(mean.params),
      putPrepared(core, rho).vr,
      desc,
      core.putF32(t),
      core.putF32(toSoa(x, n, spec.dim)),
      core.putF32(toSoa(eps, n, R)),
      n,
      out,
      core.alloc(k.scratchBytes(desc)),
    )
    return fromSoa(core.f32(out, n * spec.dim), n, spec.dim)
  })
}

/** Sign rows per point of flipout: Σ_l (in_l + out_l), layer by layer [s_l | r_l]. */
export const signRows = (spec: MlpSpec): number => {
  const widths = [inputWidth(spec), ...spec.hidden, spec.dim]
  return widths.slice(1).reduce((a, w, l) => a + widths[l] + w, 0)
}

/** Flipout's ±1 signs for rows [0, rows) of points [start, start + n) (flipout_signs), SoA `[rows][n]`. */
export const flipoutSigns = (core: Core, seed: number, stream: number, start: number, n: number, rows: number): Float32Array => {
  checkRange({ seed, stream }, start, n, 1)
  if (!Number.isInteger(rows) || rows < 0 || rows > 2 ** 20) throw new RangeError(`flipoutSigns: rows must be an integer in [0, 2^20], got ${rows}`)
  return core.scoped(() => {
    const p = core.allocF32(n * rows)
    core.fn<(a: number, b: number, c: number, d: number, e: number, f: number) => void>('flipout_signs')(seed, stream, start, n, rows, p)
    return core.f32(p, n * rows).slice()
  })
}

/** The flipout kernels on arrays: μ, ρ and the batch's weight noise ε ([P]) into the core, σ ∘ ε and ε·sigmoid(ρ) formed. */
const withFlipout = <A>(
  core: Core,
  mean: Mlp,
  rho: ArrayLike<number>,
  eps: ArrayLike<number>,
  n: number,
  noise: VibNoise,
  f: (p: { mu: number; dW: number; chain: number; desc: number; scratch: number }) => A,
): A => {
  const P = mean.params.length
  if (n < 1) throw new RangeError('flipout needs at least one point')
  if (rho.length !== P) throw new RangeError(`rho has ${rho.length} values, the model ${P} parameters`)
  if (eps.length !== P) throw new RangeError(`eps has ${eps.length} values, the model ${P} parameters`)
  checkRange(noise, noise.start, n, 1)
  return core.scoped(() => {
    const desc = putDescriptor(core, mean.spec)
    const dW = core.allocF32(P)
    const chain = core.allocF32(P)
    vibKernels(core).prepare(core.putF32(rho), core.putF32(eps), P, dW, chain)
    const scratch = core.alloc(core.fn<(d: number) => number>('flipout_scratch_bytes')(desc))
    return f({ mu: core.putF32(mean.params), dW, chain, desc, scratch })
  })
}

/**
 * The VIB data term of a batch under flipout and its gradient with respect to μ and ρ, from the
 * fused kernel, with the batch's weight noise `eps` ([P]) given; point p takes the signs of point
 * `noise.start + p` (flipoutSigns). `xt`, `u` row-major `[n, d]`.
 */
export const flipoutLossGrad = (
  core: Core,
  mean: Mlp,
  rho: ArrayLike<number>,
  eps: ArrayLike<number>,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
  noise: VibNoise,
): { loss: number; gradMu: Float32Array; gradRho: Float32Array } => {
  const n = t.length
  const dim = mean.spec.dim
  const P = mean.params.length
  checkPoints('x_t', xt, n, dim)
  checkPoints('u', u, n, dim)
  return withFlipout(core, mean, rho, eps, n, noise, (p) => {
    const gMu = core.allocF32(P)
    const gRho = core.allocF32(P)
    type LossGrad = (...a: number[]) => number
    const loss = core.fn<LossGrad>('flipout_loss_grad')(
      p.mu,
      p.dW,
      p.chain,
      p.desc,
      core.putF32(t),
      core.putF32(toSoa(xt, n, dim)),
      core.putF32(toSoa(u, n, dim)),
      noise.seed,
      noise.stream,
      noise.start,
      n,
      gMu,
      gRho,
      p.scratch,
    )
    return { loss, gradMu: core.f32(gMu, P).slice(), gradRho: core.f32(gRho, P).slice() }
  })
}

/** The field under flipout, with the weight noise and the points' signs as flipoutLossGrad takes them; v row-major `[n, d]`. */
export const flipoutForward = (
  core: Core,
  mean: Mlp,
  rho: ArrayLike<number>,
  eps: ArrayLike<number>,
  t: ArrayLike<number>,
  x: ArrayLike<number>,
  noise: VibNoise,
): Float32Array => {
  const n = t.length
  const dim = mean.spec.dim
  checkPoints('x', x, n, dim)
  return withFlipout(core, mean, rho, eps, n, noise, (p) => {
    const out = core.allocF32(n * dim)
    const forward = core.fn<(...a: number[]) => void>('flipout_forward')
    forward(p.mu, p.dW, p.desc, core.putF32(t), core.putF32(toSoa(x, n, dim)), noise.seed, noise.stream, noise.start, n, out, p.scratch)
    return fromSoa(core.f32(out, n * dim), n, dim)
  })
}

/**
 * The KL term from the kernel: `weighted` = Σ c_k·KL_k, `raw` = Σ KL_k, and the gradients of the
 * weighted sum with respect to μ and ρ.
 */
export const vibKl = (
  core: Core,
  mu: ArrayLike<number>,
  rho: ArrayLike<number>,
  coef: ArrayLike<number>,
  priorScale = 1,
): { weighted: number; raw: number; gradMu: Float32Array; gradRho: Float32Array } => {
  const n = mu.length
  if (rho.length !== n || coef.length !== n)
    throw new RangeError(
      `vibKl: mu, rho and coef must have one value per weight, got ${n}, ${rho.length}, ${coef.length}`,
    )
  if (!(priorScale > 0) || !Number.isFinite(priorScale))
    throw new RangeError(`priorScale must be a positive number, got ${priorScale}`)
  return core.scoped(() => {
    const gMu = core.allocF32(n)
    const gRho = core.allocF32(n)
    core.f32(gMu, n).fill(0)
    core.f32(gRho, n).fill(0)
    const out = core.allocF64(2)
    vibKernels(core).kl(core.putF32(mu), core.putF32(rho), n, priorScale, core.putF32(coef), gMu, gRho, out, 0, 0, 0)
    const [weighted, raw] = core.f64(out, 2)
    return { weighted, raw, gradMu: core.f32(gMu, n).slice(), gradRho: core.f32(gRho, n).slice() }
  })
}

/**
 * Whether the KL history has converged after its last epoch: with W = `window` and c the number
 * of epochs so far, c ≥ max(minEpochs, 2W) and the means A of kl[c−W, c) and A' of kl[c−2W, c−W)
 * satisfy |A − A'| ≤ tol·|A|. A non-finite mean never converges.
 */
export const klConverged = (kl: readonly number[], stop: StopCriterion): boolean => {
  const c = kl.length
  const W = stop.window
  if (c < Math.max(stop.minEpochs, 2 * W)) return false
  let a = 0
  let b = 0
  for (let e = c - W; e < c; e++) a += kl[e]
  for (let e = c - 2 * W; e < c - W; e++) b += kl[e]
  a /= W
  b /= W
  return Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= stop.tol * Math.abs(a)
}

// -------------------------------------------------------------------------------------
// training
// -------------------------------------------------------------------------------------

const vibProblem = (
  o: VibOptions,
  k: number,
  priorScale: number,
  rhoInit: number,
  draws: number,
  stop: StopCriterion,
): string | undefined => {
  if (!(k >= 0) || !Number.isFinite(k)) return `k must be a non-negative number, got ${k}`
  if (o.klNormalization !== undefined && o.klNormalization !== 'elbo' && o.klNormalization !== 'paper')
    return `klNormalization must be 'elbo' or 'paper', got '${String(o.klNormalization)}'`
  if (o.estimator !== undefined && !VIB_ESTIMATORS.includes(o.estimator))
    return `estimator must be 'local' or 'flipout', got '${String(o.estimator)}'`
  if (!(priorScale > 0) || !Number.isFinite(priorScale))
    return `priorScale must be a positive number, got ${priorScale}`
  if (!Number.isFinite(rhoInit)) return `rhoInit must be a finite number, got ${rhoInit}`
  if (!Number.isInteger(draws) || draws < 0) return `draws must be a non-negative integer, got ${draws}`
  if (!Number.isInteger(stop.window) || stop.window < 1)
    return `stop.window must be a positive integer, got ${stop.window}`
  if (!(stop.tol >= 0) || !Number.isFinite(stop.tol)) return `stop.tol must be a non-negative number, got ${stop.tol}`
  if (!Number.isInteger(stop.minEpochs) || stop.minEpochs < 0)
    return `stop.minEpochs must be a non-negative integer, got ${stop.minEpochs}`
  return undefined
}

/**
 * Trains the mean-field posterior by minimising eq. (3.6) with Adam or AdamW over (μ, ρ), stopping
 * when the KL term has converged (module header) or after `epochs` epochs, and draws `draws`
 * posterior weight sets. Steps whose loss or gradient is not finite are skipped and counted;
 * `maxConsecutiveSkips` in a row abort with an Error. Deterministic per seed and core variant.
 */
export const trainVib = (core: Core, opts: VibOptions): VibResult => {
  const k = opts.k ?? 1
  const normalization = opts.klNormalization ?? 'elbo'
  const priorScale = opts.priorScale ?? 1
  const rhoInit = opts.rhoInit ?? -3
  const draws = opts.draws ?? 50
  const stop: StopCriterion = { ...STOP_DEFAULTS, ...opts.stop }
  const o = cfmSettings('trainVib', core, opts, () => vibProblem(opts, k, priorScale, rhoInit, draws, stop))
  const { spec, P, B, N } = o
  const vk = vibKernels(core)

  return core.scoped(() => {
    const batch = cfmBatch(core, o, opts.data)
    // θ = [μ | ρ] and its gradient, contiguous so that one Adam state covers both
    const theta = core.allocF32(2 * P)
    core.f32(theta, P).set(o.init)
    core.f32(theta + 4 * P, P).fill(rhoInit)
    const rho = theta + 4 * P
    const grad = core.allocF32(2 * P)
    const gradRho = grad + 4 * P
    const coef = core.putF32(klCoefficients(spec, normalization, k, N, B))
    const klOut = core.allocF64(2)
    // the KL gradient of a step, added to the data term's after the batch; and what the estimator's
    // kernel takes in place of ρ, formed in the same pass (vib_kl)
    const klGrad = core.allocF32(2 * P)
    const prepared = core.allocF32(P)
    const chain = core.allocF32(P)
    const adam = new Adam(core, 2 * P, o.lr, o.optimizer)
    const skips = new SkipCounter('trainVib', o)
    const flipout = opts.estimator === 'flipout'
    // flipout's weight noise of a step: H = ⌈P/2⌉ points of two dimensions (SoA), the first P values
    const H = Math.ceil(P / 2)
    const weightNoise = flipout ? core.allocF32(2 * H) : 0

    const losses: number[] = []
    const cfm: number[] = []
    const kl: number[] = []
    let converged = false
    let epoch = 0
    for (; epoch < opts.epochs; epoch++) {
      let sumLoss = 0
      let sumCfm = 0
      let sumKl = 0
      let finite = 0
      for (let b = 0; b < o.batchesPerEpoch; b++) {
        const s = epoch * o.batchesPerEpoch + b
        batch.fill(s)
        const { t, xt, u } = batch.views()
        if (flipout) normalsPtr(core, { seed: opts.seed, stream: VIB_STREAMS.flipoutWeights }, s * H, H, 2, weightNoise)
        core.f32(klGrad, 2 * P).fill(0)
        vk.kl(theta, rho, P, priorScale, coef, klGrad, klGrad + 4 * P, klOut, weightNoise, prepared, chain)
        const args = [spec, core.f32(theta, P), core.f32(prepared, P), core.f32(chain, P), t, xt, u] as const
        const outs = [core.f32(grad, P), core.f32(gradRho, P)] as const
        const noise = { seed: opts.seed, stream: flipout ? VIB_STREAMS.flipoutSigns : VIB_STREAMS.noise, start: s * B }
        const data_ = o.gradient.variational(flipout ? 'flipout' : 'vib', ...args, noise, ...outs)
        addInto(core.f32(grad, 2 * P), core.f32(klGrad, 2 * P))
        const [weighted, raw] = core.f64(klOut, 2)
        const loss = data_ + weighted
        if (Number.isFinite(loss) && allFinite(core.f32(grad, 2 * P))) {
          adam.update(theta, grad)
          sumLoss += loss
          sumCfm += data_
          sumKl += raw
          finite += 1
          skips.ok()
        } else skips.skip(epoch, b, loss)
      }
      const mean = (x: number) => (finite > 0 ? x / finite : Number.NaN)
      losses.push(mean(sumLoss))
      cfm.push(mean(sumCfm))
      kl.push(mean(sumKl))
      opts.onEpoch?.({ epoch, loss: mean(sumLoss), kl: mean(sumKl), skipped: skips.skipped })
      if (klConverged(kl, stop)) {
        converged = true
        break
      }
    }
    const stoppedAt = converged ? epoch : opts.epochs - 1

    const mu = core.f32(theta, P).slice()
    const rhoOut = core.f32(rho, P).slice()
    const sigma = Float64Array.from(rhoOut, softplus)
    const z = core.allocF32(P)
    const samples: Mlp[] = []
    for (let j = 0; j < draws; j++) {
      normalsPtr(core, { seed: opts.seed, stream: VIB_STREAMS.posterior }, j, 1, P, z)
      const e = core.f32(z, P)
      samples.push(mlp(spec, Float32Array.from(mu, (m, q) => m + sigma[q] * e[q])))
    }
    return { mean: mlp(spec, mu), rho: rhoOut, samples, losses, cfm, kl, stoppedAt, converged, skipped: skips.skipped }
  })
}
