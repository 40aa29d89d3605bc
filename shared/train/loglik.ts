/**
 * Log-likelihood of data under the CNF, and the AdamMCMC energy with its exact gradient, from the
 * WASM kernels of wasm/assembly/loglik.ts.
 *
 * log p(x) = log N(z(0); 0, I) − ∫₀¹ tr ∂v/∂z (t, z(t)) dt, with z(1) = x, integrated backwards
 * from the data (t = 1) to the latent (t = 0) by a fixed-step Euler, midpoint or RK4 solver on the
 * augmented state (z, ℓ); the divergence is exact (forward-mode tangents through the MLP, one per
 * coordinate). The gradient is exact for the discretized solver: backpropagation through every
 * solver stage, second derivatives of the activation included. Default: RK4 with 8 steps, the
 * setting of the AdamMCMC energy benchmark (anchors/torch/ref.py). On a CFM model of the Gamma ring
 * (2500 epochs) its mean test log p differs from RK4 with 128 steps by 7e-4 nats.
 *
 * Points are row-major `[n, d]` here and SoA `[d][n]` inside the core.
 */
import type { Core } from '../core/wasm.ts'
import type { Mlp } from '../model/spec.ts'
import { putDescriptor, toSoa } from './backprop.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type LoglikSolver = 'euler' | 'midpoint' | 'rk4'

export const LOGLIK_SOLVERS: readonly LoglikSolver[] = ['euler', 'midpoint', 'rk4']

export interface LoglikOptions {
  /** Fixed-step method on the augmented state (z, ℓ). */
  readonly solver: LoglikSolver
  /** Number of equal steps from t = 1 to t = 0. */
  readonly steps: number
}

/** RK4 with 8 steps, as the PyTorch anchor (anchors/torch/ref.py) computes the AdamMCMC energy. */
export const DEFAULT_LOGLIK_OPTIONS: LoglikOptions = { solver: 'rk4', steps: 8 }

/** Checks options, returning a message naming the offending field, or undefined if they are valid. */
export const loglikOptionsProblem = (o: LoglikOptions): string | undefined => {
  if (!LOGLIK_SOLVERS.includes(o.solver))
    return `solver must be one of ${LOGLIK_SOLVERS.join(', ')}, got '${String(o.solver)}'`
  if (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > 1_000_000)
    return `steps must be an integer from 1 to 1000000, got ${o.steps}`
  return undefined
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/** Signatures of the log-likelihood kernels exported by the core (pointer level). */
export interface LoglikKernels {
  readonly stageBytes: (desc: number) => number
  readonly scratchBytes: (desc: number, solver: number, steps: number, withGrad: number) => number
  readonly forward: (
    params: number,
    desc: number,
    x: number,
    n: number,
    solver: number,
    steps: number,
    out: number,
    scratch: number,
  ) => void
  readonly energyGrad: (
    params: number,
    desc: number,
    x: number,
    n: number,
    solver: number,
    steps: number,
    scale: number,
    grad: number,
    logp: number,
    scratch: number,
  ) => number
}

/** The log-likelihood kernels of a core. */
export const loglikKernels = (core: Core): LoglikKernels => ({
  stageBytes: core.fn('loglik_stage_bytes'),
  scratchBytes: core.fn('loglik_scratch_bytes'),
  forward: core.fn('loglik_forward'),
  energyGrad: core.fn('loglik_energy_grad'),
})

/** The kernels' solver code: 0 Euler, 1 midpoint, 2 RK4. */
export const solverCode = (s: LoglikSolver): number => LOGLIK_SOLVERS.indexOf(s)

/** Stages per step of each solver. */
export const STAGES: Readonly<Record<LoglikSolver, number>> = { euler: 1, midpoint: 2, rk4: 4 }

/** Most bytes of stage caches the gradient kernel may keep (its 32-bit sizes must not overflow). */
export const MAX_STAGE_CACHE_BYTES = 1 << 30

/**
 * Scratch bytes of `loglik_energy_grad`, after checking that the stage caches (steps × stages of
 * them, for one block) fit in MAX_STAGE_CACHE_BYTES.
 */
export const energyScratchBytes = (core: Core, desc: number, opts: LoglikOptions): number => {
  const k = loglikKernels(core)
  const caches = opts.steps * STAGES[opts.solver] * k.stageBytes(desc)
  if (caches > MAX_STAGE_CACHE_BYTES)
    throw new RangeError(
      `the energy gradient with ${opts.steps} ${opts.solver} steps needs ${Math.ceil(caches / 2 ** 20)} MiB of ` +
        `stage caches, more than the ${MAX_STAGE_CACHE_BYTES / 2 ** 20} MiB allowed: use fewer steps`,
    )
  return k.scratchBytes(desc, solverCode(opts.solver), opts.steps, 1)
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const checked = (model: Mlp, x: ArrayLike<number>, opts: LoglikOptions): number => {
  const problem = loglikOptionsProblem(opts)
  if (problem !== undefined) throw new RangeError(`log-likelihood options: ${problem}`)
  const d = model.spec.dim
  if (x.length % d !== 0 || x.length === 0)
    throw new RangeError(`log-likelihood data has ${x.length} values, expected a positive multiple of d = ${d}`)
  return x.length / d
}

// -------------------------------------------------------------------------------------
// wrappers
// -------------------------------------------------------------------------------------

/** log p(x) of every point of `x` (row-major `[n, d]`) under the flow of `model`. */
export const logLikelihood = (
  core: Core,
  model: Mlp,
  x: ArrayLike<number>,
  opts: LoglikOptions = DEFAULT_LOGLIK_OPTIONS,
): Float64Array => {
  const n = checked(model, x, opts)
  const k = loglikKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, model.spec)
    const solver = solverCode(opts.solver)
    const params = core.putF32(model.params)
    const xs = core.putF32(toSoa(x, n, model.spec.dim))
    const out = core.allocF64(n)
    const scratch = core.alloc(k.scratchBytes(desc, solver, opts.steps, 0))
    k.forward(params, desc, xs, n, solver, opts.steps, out, scratch)
    return core.f64(out, n).slice()
  })
}

/**
 * The AdamMCMC energy `scale · Σ_p −log p(x_p)` of a minibatch `x` (row-major `[n, d]`) and its
 * exact gradient with respect to the parameters (f32, canonical order). AdamMCMC passes
 * `scale = N / B`, the data-set size over the minibatch size, so that the minibatch sum estimates
 * the full-data negative log-likelihood and λ = 1 targets the untempered posterior (eq. 3.11), as
 * the reference code does. Memory: one block's activations for every stage, about
 * steps × stages × 42 KiB for the paper's model (8 RK4 steps: 1.3 MiB).
 */
export const energyGrad = (
  core: Core,
  model: Mlp,
  x: ArrayLike<number>,
  opts: LoglikOptions = DEFAULT_LOGLIK_OPTIONS,
  scale = 1,
): { energy: number; grad: Float32Array } => {
  const n = checked(model, x, opts)
  if (!Number.isFinite(scale)) throw new RangeError(`energy scale must be finite, got ${scale}`)
  const k = loglikKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, model.spec)
    const solver = solverCode(opts.solver)
    const P = model.params.length
    const params = core.putF32(model.params)
    const xs = core.putF32(toSoa(x, n, model.spec.dim))
    const grad = core.allocF32(P)
    const scratch = core.alloc(energyScratchBytes(core, desc, opts))
    const energy = k.energyGrad(params, desc, xs, n, solver, opts.steps, scale, grad, 0, scratch)
    return { energy, grad: core.f32(grad, P).slice() }
  })
}

/**
 * Mean log-likelihood of the points of `x` and its standard error `s / √n` (s the sample standard
 * deviation; NaN for a single point), what `bayesamp loglik` prints.
 */
export const meanLogLik = (
  core: Core,
  model: Mlp,
  x: ArrayLike<number>,
  opts: LoglikOptions = DEFAULT_LOGLIK_OPTIONS,
): { mean: number; stderr: number; n: number } => {
  const logp = logLikelihood(core, model, x, opts)
  const n = logp.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += (logp[i] - mean) / (i + 1)
  let ss = 0
  for (let i = 0; i < n; i++) ss += (logp[i] - mean) ** 2
  return { mean, stderr: n > 1 ? Math.sqrt(ss / (n - 1) / n) : NaN, n }
}
