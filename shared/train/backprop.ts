/**
 * Host side of the training kernels (wasm/assembly/train.ts, backprop.ts): the model descriptor,
 * and array-in, array-out wrappers of the CFM loss and gradient and of the cached forward and
 * backward passes of the vector field. The training loop (cfm.ts) calls the pointer kernels
 * directly on buffers it keeps in the core; these wrappers copy, and suit tests and one-off use.
 *
 * Points are row-major `[n, d]` here and SoA `[d][n]` inside the core.
 */
import type { Core } from '../core/wasm.ts'
import { ACTIVATIONS, type Mlp, type MlpSpec, inputWidth, parameterCount, specProblem } from '../model/spec.ts'

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/** Signatures of the training kernels exported by the core. */
export interface TrainKernels {
  readonly cfmScratchBytes: (desc: number) => number
  readonly cfmPairs: (
    data: number,
    idx: number,
    x0: number,
    t: number,
    n: number,
    d: number,
    sigmaMin: number,
    xt: number,
    u: number,
  ) => void
  readonly cfmLossGrad: (
    params: number,
    desc: number,
    t: number,
    xt: number,
    u: number,
    n: number,
    grad: number,
    scratch: number,
  ) => number
  readonly cacheBytes: (desc: number, n: number) => number
  readonly backwardScratchBytes: (desc: number) => number
  readonly gradAccBytes: (desc: number) => number
  readonly forwardCached: (params: number, desc: number, t: number, x: number, n: number, cache: number, out: number) => void
  readonly backward: (
    params: number,
    desc: number,
    cache: number,
    dout: number,
    n: number,
    gacc: number,
    scratch: number,
    dx: number,
  ) => void
  readonly gradReduce: (gacc: number, n: number, out: number, scale: number) => void
  /** Fisher–Yates shuffle of 0 … N−1 into `perm` (i32) by the f64 uniforms `w`. */
  readonly shuffleIndices: (w: number, N: number, perm: number) => void
  /** dst (f32) = src (f64) rounded, n values. */
  readonly demoteF64: (src: number, n: number, dst: number) => void
  /** out[k] = fround(Σ_c w_c·slots[c·G + k]) in f64, chunk order (parallel.ts). */
  readonly chunkSum: (slots: number, chunks: number, G: number, w: number, out: number) => void
  readonly paramCount: (desc: number) => number
}

/** The training kernels of a core. */
export const trainKernels = (core: Core): TrainKernels => ({
  cfmScratchBytes: core.fn('cfm_scratch_bytes'),
  cfmPairs: core.fn('cfm_pairs'),
  cfmLossGrad: core.fn('cfm_loss_grad'),
  cacheBytes: core.fn('mlp_cache_bytes'),
  backwardScratchBytes: core.fn('mlp_backward_scratch_bytes'),
  gradAccBytes: core.fn('grad_acc_bytes'),
  forwardCached: core.fn('mlp_forward_cached'),
  backward: core.fn('mlp_backward'),
  gradReduce: core.fn('grad_reduce'),
  chunkSum: core.fn('chunk_sum'),
  shuffleIndices: core.fn('shuffle_indices'),
  demoteF64: core.fn('demote_f64'),
  paramCount: core.fn('train_param_count'),
})

// -------------------------------------------------------------------------------------
// descriptor
// -------------------------------------------------------------------------------------

/**
 * The i32 model descriptor the training kernels read: `[d, K, activation, L, w_0 … w_L]` with
 * activation coded by its index in `ACTIVATIONS` (ELU 0, SiLU 1, tanh 2, ReLU 3), L the number of
 * linear layers and w_0 = 1 + 2K + d, …, w_L = d the layer widths.
 */
export const trainDescriptor = (spec: MlpSpec): Int32Array => {
  const problem = specProblem(spec)
  if (problem !== undefined) throw new RangeError(`invalid model spec: ${problem}`)
  const widths = [inputWidth(spec), ...spec.hidden, spec.dim]
  return Int32Array.from([spec.dim, spec.frequencies, ACTIVATIONS.indexOf(spec.activation), widths.length - 1, ...widths])
}

/** Copies the descriptor of `spec` into the core and checks that the core agrees on the parameter count. */
export const putDescriptor = (core: Core, spec: MlpSpec): number => {
  const desc = core.putI32(trainDescriptor(spec))
  const n = trainKernels(core).paramCount(desc)
  if (n !== parameterCount(spec))
    throw new Error(`training descriptor: the core counts ${n} parameters, the spec ${parameterCount(spec)}`)
  return desc
}

// -------------------------------------------------------------------------------------
// layout utils
// -------------------------------------------------------------------------------------

/** Row-major `[n, d]` to SoA `[d][n]`. */
export const toSoa = (x: ArrayLike<number>, n: number, d: number): Float32Array => {
  const out = new Float32Array(n * d)
  for (let p = 0; p < n; p++) for (let j = 0; j < d; j++) out[j * n + p] = x[p * d + j]
  return out
}

/** SoA `[d][n]` to row-major `[n, d]`. */
export const fromSoa = (x: ArrayLike<number>, n: number, d: number): Float32Array => {
  const out = new Float32Array(n * d)
  for (let p = 0; p < n; p++) for (let j = 0; j < d; j++) out[p * d + j] = x[j * n + p]
  return out
}

const checkPoints = (what: string, x: ArrayLike<number>, n: number, d: number): void => {
  if (x.length !== n * d) throw new RangeError(`${what} has ${x.length} values, expected ${n} points × ${d} = ${n * d}`)
}

// -------------------------------------------------------------------------------------
// wrappers
// -------------------------------------------------------------------------------------

/**
 * CFM loss `(1/n) Σ_p ‖v(t_p, x_t,p) − u_p‖²` and its gradient with respect to the parameters,
 * from the fused kernel. `xt` and `u` are row-major `[n, d]`.
 */
export const cfmLossGrad = (
  core: Core,
  model: Mlp,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
): { loss: number; grad: Float32Array } => {
  const n = t.length
  const d = model.spec.dim
  checkPoints('x_t', xt, n, d)
  checkPoints('u', u, n, d)
  if (n < 1) throw new RangeError('cfmLossGrad needs at least one point')
  const k = trainKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, model.spec)
    const P = model.params.length
    const params = core.putF32(model.params)
    const grad = core.allocF32(P)
    const scratch = core.alloc(k.cfmScratchBytes(desc))
    const loss = k.cfmLossGrad(
      params,
      desc,
      core.putF32(t),
      core.putF32(toSoa(xt, n, d)),
      core.putF32(toSoa(u, n, d)),
      n,
      grad,
      scratch,
    )
    return { loss, grad: core.f32(grad, P).slice() }
  })
}

/**
 * The field at `n` points and, given dL/dv (`dv`, row-major `[n, d]`), dL/dθ and dL/dx, from the
 * generic cached forward and backward kernels.
 */
export const fieldVjp = (
  core: Core,
  model: Mlp,
  t: ArrayLike<number>,
  x: ArrayLike<number>,
  dv: ArrayLike<number>,
): { v: Float32Array; grad: Float32Array; dx: Float32Array } => {
  const n = t.length
  const d = model.spec.dim
  checkPoints('x', x, n, d)
  checkPoints('dv', dv, n, d)
  const k = trainKernels(core)
  return core.scoped(() => {
    const desc = putDescriptor(core, model.spec)
    const P = model.params.length
    const params = core.putF32(model.params)
    const cache = core.alloc(k.cacheBytes(desc, n))
    const out = core.allocF32(n * d)
    k.forwardCached(params, desc, core.putF32(t), core.putF32(toSoa(x, n, d)), n, cache, out)
    const gacc = core.alloc(k.gradAccBytes(desc))
    core.f32(gacc, 4 * P).fill(0)
    const dx = core.allocF32(n * d)
    const scratch = core.alloc(k.backwardScratchBytes(desc))
    k.backward(params, desc, cache, core.putF32(toSoa(dv, n, d)), n, gacc, scratch, dx)
    const grad = core.allocF32(P)
    k.gradReduce(gacc, P, grad, 1)
    return {
      v: fromSoa(core.f32(out, n * d), n, d),
      grad: core.f32(grad, P).slice(),
      dx: fromSoa(core.f32(dx, n * d), n, d),
    }
  })
}
