/**
 * Plain TypeScript references of the training kernels, in f64, used only by the tests: the
 * vector field with its reverse-mode gradient, the CFM loss and its gradient, and one Adam/AdamW
 * step written out from the PyTorch 1.13 update rule.
 */
import { type Activation, type MlpSpec, layerOffsets } from '../../shared/model/spec.ts'
import { activate } from './mlp.ts'

// -------------------------------------------------------------------------------------
// field
// -------------------------------------------------------------------------------------

/** f'(z) of each activation. */
export const activateDerivative = (a: Activation, z: number): number => {
  switch (a) {
    case 'elu':
      return z > 0 ? 1 : Math.exp(z)
    case 'silu': {
      const s = 1 / (1 + Math.exp(-z))
      return s * (1 + z * (1 - s))
    }
    case 'tanh':
      return 1 - Math.tanh(z) ** 2
    case 'relu':
      return z > 0 ? 1 : 0
  }
}

const featuresOf = (spec: MlpSpec, t: number, x: ArrayLike<number>): number[] => {
  const f = [t]
  for (let k = 1; k <= spec.frequencies; k++) f.push(Math.cos(k * Math.PI * t), Math.sin(k * Math.PI * t))
  for (let j = 0; j < spec.dim; j++) f.push(x[j])
  return f
}

/**
 * v(t, x) of one point and, given dL/dv, dL/dθ (added into `grad`) and dL/dx (returned), by
 * plain reverse mode: h_{l+1} = f(W_l h_l + b_l), last layer linear.
 */
export const pointVjp = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  t: number,
  x: ArrayLike<number>,
  dv: ArrayLike<number> | undefined,
  grad: Float64Array | undefined,
): { v: number[]; dx: number[] } => {
  const layers = layerOffsets(spec)
  const hs: number[][] = [featuresOf(spec, t, x)]
  const zs: number[][] = []
  layers.forEach((L, l) => {
    const h = hs[l]
    const z = new Array<number>(L.out)
    for (let o = 0; o < L.out; o++) {
      let s = params[L.b + o]
      for (let i = 0; i < L.in; i++) s += params[L.w + o * L.in + i] * h[i]
      z[o] = s
    }
    zs.push(z)
    hs.push(l < layers.length - 1 ? z.map((q) => activate(spec.activation, q)) : z)
  })
  const v = hs[layers.length]
  if (dv === undefined) return { v, dx: [] }
  let dz = Array.from({ length: spec.dim }, (_, j) => dv[j])
  for (let l = layers.length - 1; l >= 0; l--) {
    const L = layers[l]
    const h = hs[l]
    const dh = new Array<number>(L.in).fill(0)
    for (let o = 0; o < L.out; o++) {
      if (grad !== undefined) {
        for (let i = 0; i < L.in; i++) grad[L.w + o * L.in + i] += dz[o] * h[i]
        grad[L.b + o] += dz[o]
      }
      for (let i = 0; i < L.in; i++) dh[i] += params[L.w + o * L.in + i] * dz[o]
    }
    dz = l > 0 ? dh.map((g, i) => g * activateDerivative(spec.activation, zs[l - 1][i])) : dh
  }
  return { v, dx: dz.slice(1 + 2 * spec.frequencies) }
}

// -------------------------------------------------------------------------------------
// CFM
// -------------------------------------------------------------------------------------

/** (1/n) Σ_p ‖v(t_p, x_t,p) − u_p‖² and, when asked, its gradient; x_t and u row-major [n, d]. */
export const cfmLossRef = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
  withGrad = false,
): { loss: number; grad: Float64Array | undefined } => {
  const n = t.length
  const d = spec.dim
  const grad = withGrad ? new Float64Array(params.length) : undefined
  let loss = 0
  for (let p = 0; p < n; p++) {
    const x = Array.from({ length: d }, (_, j) => xt[p * d + j])
    const { v } = pointVjp(spec, params, t[p], x, undefined, undefined)
    const e = v.map((vj, j) => vj - u[p * d + j])
    loss += e.reduce((s, q) => s + q * q, 0)
    if (grad !== undefined)
      pointVjp(
        spec,
        params,
        t[p],
        x,
        e.map((q) => (2 * q) / n),
        grad,
      )
  }
  return { loss: loss / n, grad }
}

/** The CFM pairs of eq. (3.4): x_t = (1 − (1 − σ)t)·x0 + t·x1, u = x1 − (1 − σ)·x0 (row-major). */
export const cfmPairsRef = (
  t: ArrayLike<number>,
  x0: ArrayLike<number>,
  x1: ArrayLike<number>,
  d: number,
  sigmaMin: number,
): { xt: Float64Array; u: Float64Array } => {
  const n = t.length
  const xt = new Float64Array(n * d)
  const u = new Float64Array(n * d)
  const c = 1 - sigmaMin
  for (let p = 0; p < n; p++)
    for (let j = 0; j < d; j++) {
      const k = p * d + j
      xt[k] = (1 - c * t[p]) * x0[k] + t[p] * x1[k]
      u[k] = x1[k] - c * x0[k]
    }
  return { xt, u }
}

// -------------------------------------------------------------------------------------
// Adam
// -------------------------------------------------------------------------------------

/**
 * One step of PyTorch 1.13's Adam (`decoupled` false: L2 weight decay added to the gradient) or
 * AdamW (`decoupled` true: θ ← θ(1 − lr·λ)), step counted from 1; updates θ, m, v in place.
 */
export const adamStepRef = (
  theta: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; step: number },
): void => {
  for (let k = 0; k < theta.length; k++) {
    let gk = g[k]
    if (o.decoupled) theta[k] *= 1 - o.lr * o.weightDecay
    else gk += o.weightDecay * theta[k]
    m[k] = o.beta1 * m[k] + (1 - o.beta1) * gk
    v[k] = o.beta2 * v[k] + (1 - o.beta2) * gk * gk
    const denom = Math.sqrt(v[k]) / Math.sqrt(1 - o.beta2 ** o.step) + o.eps
    theta[k] -= (o.lr / (1 - o.beta1 ** o.step)) * (m[k] / denom)
  }
}
