/**
 * Plain TypeScript reference of the log-likelihood kernel (wasm/assembly/loglik.ts), in f64, used
 * only by the tests: the same discrete solver (Euler, midpoint or RK4 with `steps` equal steps from
 * t = 1 to t = 0 on the augmented state (z, ℓ)), with the divergence from the full Jacobian
 * ∂v/∂z computed by forward-mode tangents through the MLP, one per input coordinate.
 */
import { type MlpSpec, layerOffsets } from '../../shared/model/spec.ts'
import { activate } from './mlp.ts'
import { activateDerivative } from './train.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type SolverKind = 'euler' | 'midpoint' | 'rk4'

/** Explicit tableau with only sub-diagonal couplings: stage k's input is y + h·a[k]·v_{k−1}. */
interface Tableau {
  readonly c: readonly number[]
  readonly a: readonly number[]
  readonly b: readonly number[]
}

export const TABLEAUS: Readonly<Record<SolverKind, Tableau>> = {
  euler: { c: [0], a: [0], b: [1] },
  midpoint: { c: [0, 0.5], a: [0, 0.5], b: [0, 1] },
  rk4: { c: [0, 0.5, 0.5, 1], a: [0, 0.5, 0.5, 1], b: [1 / 6, 1 / 3, 1 / 3, 1 / 6] },
}

// -------------------------------------------------------------------------------------
// field and divergence
// -------------------------------------------------------------------------------------

/**
 * v(t, y), the Jacobian J[i][j] = ∂v_i/∂y_j and div v = tr J at one point, and the smallest
 * |pre-activation| met (for the ReLU tests, which must stay away from its kink).
 */
export const fieldJacobian = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  t: number,
  y: ArrayLike<number>,
): { v: number[]; jac: number[][]; div: number; minAbsZ: number } => {
  const d = spec.dim
  const layers = layerOffsets(spec)
  let h = [t]
  for (let k = 1; k <= spec.frequencies; k++) h.push(Math.cos(k * Math.PI * t), Math.sin(k * Math.PI * t))
  const base = h.length
  for (let j = 0; j < d; j++) h.push(y[j])
  // tangents[j] = ∂h/∂y_j
  let tangents: number[][] = Array.from({ length: d }, (_, j) => h.map((_, i) => (i === base + j ? 1 : 0)))
  let minAbsZ = Infinity
  layers.forEach((L, l) => {
    const last = l === layers.length - 1
    const z = new Array<number>(L.out)
    const zt = tangents.map(() => new Array<number>(L.out))
    for (let o = 0; o < L.out; o++) {
      let s = params[L.b + o]
      for (let i = 0; i < L.in; i++) s += params[L.w + o * L.in + i] * h[i]
      z[o] = s
      tangents.forEach((tj, j) => {
        let q = 0
        for (let i = 0; i < L.in; i++) q += params[L.w + o * L.in + i] * tj[i]
        zt[j][o] = q
      })
    }
    if (last) {
      h = z
      tangents = zt
    } else {
      for (const q of z) minAbsZ = Math.min(minAbsZ, Math.abs(q))
      h = z.map((q) => activate(spec.activation, q))
      tangents = zt.map((tj) => tj.map((q, o) => activateDerivative(spec.activation, z[o]) * q))
    }
  })
  const jac = Array.from({ length: d }, (_, i) => tangents.map((tj) => tj[i]))
  let div = 0
  for (let j = 0; j < d; j++) div += jac[j][j]
  return { v: h, jac, div, minAbsZ }
}

// -------------------------------------------------------------------------------------
// log-likelihood
// -------------------------------------------------------------------------------------

/**
 * log p(x) of every point (row-major [n, d]) under the discretized flow:
 * log N(z(0); 0, I) + ℓ(0), with (z, ℓ) integrated from (x, 0) at t = 1 to t = 0. Also returns
 * the smallest |pre-activation| over every stage evaluation.
 */
export const logLikelihoodRef = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  x: ArrayLike<number>,
  solver: SolverKind,
  steps: number,
): { logp: Float64Array; minAbsZ: number } => {
  const d = spec.dim
  const n = x.length / d
  const tab = TABLEAUS[solver]
  const h = -1 / steps
  const logp = new Float64Array(n)
  let minAbsZ = Infinity
  for (let p = 0; p < n; p++) {
    let y = Array.from({ length: d }, (_, j) => x[p * d + j])
    let ell = 0
    for (let s = 0; s < steps; s++) {
      const t0 = 1 - s / steps
      let prev: number[] = []
      const ksum = new Array<number>(d).fill(0)
      let dsum = 0
      tab.b.forEach((bk, k) => {
        const yk = y.map((q, j) => (k === 0 ? q : q + h * tab.a[k] * prev[j]))
        const r = fieldJacobian(spec, params, t0 + tab.c[k] * h, yk)
        minAbsZ = Math.min(minAbsZ, r.minAbsZ)
        for (let j = 0; j < d; j++) ksum[j] += bk * r.v[j]
        dsum += bk * r.div
        prev = r.v
      })
      y = y.map((q, j) => q + h * ksum[j])
      ell += h * dsum
    }
    logp[p] = -0.5 * y.reduce((a, q) => a + q * q, 0) - 0.5 * d * Math.log(2 * Math.PI) + ell
  }
  return { logp, minAbsZ }
}
