/**
 * Plain TypeScript f64 reference of the VIB-CFM data term under local reparameterization, used
 * only by the tests: per point and layer, z = m + √(s²)·ε with m = μW·a + μb and
 * s² = σW²·a² + σb², σ = softplus(ρ), the last layer linear. The noise is an input, so that the
 * loss is a deterministic function of (μ, ρ) and central differences apply.
 */
import { type MlpSpec, layerOffsets } from '../../shared/model/spec.ts'
import { activate, features } from './mlp.ts'

/** log(1 + e^x) in f64. */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))

/** v of one point under noise `eps` (R values, layer outputs in order). */
export const vibPointRef = (
  spec: MlpSpec,
  mu: ArrayLike<number>,
  rho: ArrayLike<number>,
  t: number,
  x: ArrayLike<number>,
  eps: ArrayLike<number>,
): number[] => {
  let a = features(spec, t, x)
  const layers = layerOffsets(spec)
  let row = 0
  layers.forEach((L, l) => {
    const z = new Array<number>(L.out)
    for (let o = 0; o < L.out; o++) {
      const sb = softplus(rho[L.b + o])
      let m = mu[L.b + o]
      let s2 = sb * sb
      for (let i = 0; i < L.in; i++) {
        const q = L.w + o * L.in + i
        const sw = softplus(rho[q])
        m += mu[q] * a[i]
        s2 += sw * sw * a[i] * a[i]
      }
      z[o] = m + Math.sqrt(s2) * eps[row + o]
    }
    row += L.out
    a = l < layers.length - 1 ? z.map((q) => activate(spec.activation, q)) : z
  })
  return a
}

/** (1/n) Σ_p ‖v_p − u_p‖² with noise `eps` row-major [n, R]; x_t and u row-major [n, d]. */
export const vibLossRef = (
  spec: MlpSpec,
  mu: ArrayLike<number>,
  rho: ArrayLike<number>,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
  eps: ArrayLike<number>,
): number => {
  const n = t.length
  const d = spec.dim
  const R = spec.hidden.reduce((s, w) => s + w, 0) + d
  let loss = 0
  for (let p = 0; p < n; p++) {
    const v = vibPointRef(
      spec,
      mu,
      rho,
      t[p],
      Array.from({ length: d }, (_, j) => xt[p * d + j]),
      Array.from({ length: R }, (_, r) => eps[p * R + r]),
    )
    for (let j = 0; j < d; j++) loss += (v[j] - u[p * d + j]) ** 2
  }
  return loss / n
}

/**
 * v of one point under flipout, in f64: the point's weights W = μW + softplus(ρW)·εW ∘ (r sᵀ) and
 * biases b = μb + softplus(ρb)·εb ∘ r, evaluated as a deterministic net. `eps` is the batch's weight
 * noise (one value per parameter, canonical order), `signs` the point's ±1 signs, layer by layer
 * [s_l (in) | r_l (out)].
 */
export const flipoutPointRef = (
  spec: MlpSpec,
  mu: ArrayLike<number>,
  rho: ArrayLike<number>,
  eps: ArrayLike<number>,
  t: number,
  x: ArrayLike<number>,
  signs: ArrayLike<number>,
): number[] => {
  let a = features(spec, t, x)
  const layers = layerOffsets(spec)
  let row = 0
  layers.forEach((L, l) => {
    const s = (i: number) => signs[row + i]
    const r = (o: number) => signs[row + L.in + o]
    const z = new Array<number>(L.out)
    for (let o = 0; o < L.out; o++) {
      const qb = L.b + o
      let acc = mu[qb] + softplus(rho[qb]) * eps[qb] * r(o)
      for (let i = 0; i < L.in; i++) {
        const q = L.w + o * L.in + i
        acc += (mu[q] + softplus(rho[q]) * eps[q] * r(o) * s(i)) * a[i]
      }
      z[o] = acc
    }
    row += L.in + L.out
    a = l < layers.length - 1 ? z.map((q) => activate(spec.activation, q)) : z
  })
  return a
}

/** (1/n) Σ_p ‖v_p − u_p‖² under flipout; signs row-major [n, S]; x_t and u row-major [n, d]. */
export const flipoutLossRef = (
  spec: MlpSpec,
  mu: ArrayLike<number>,
  rho: ArrayLike<number>,
  eps: ArrayLike<number>,
  t: ArrayLike<number>,
  xt: ArrayLike<number>,
  u: ArrayLike<number>,
  signs: ArrayLike<number>,
): number => {
  const n = t.length
  const d = spec.dim
  const S = signs.length / n
  let loss = 0
  for (let p = 0; p < n; p++) {
    const x = Array.from({ length: d }, (_, j) => xt[p * d + j])
    const sg = Array.from({ length: S }, (_, k) => signs[p * S + k])
    const v = flipoutPointRef(spec, mu, rho, eps, t[p], x, sg)
    for (let j = 0; j < d; j++) loss += (v[j] - u[p * d + j]) ** 2
  }
  return loss / n
}
