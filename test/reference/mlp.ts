/**
 * Plain TypeScript reference of the vector field, in f64, used only by the tests.
 * Row-major points `x` of shape [n, d], one time `t[i]` per point.
 */
import { type Activation, type Mlp, type MlpSpec, inputWidth, layerOffsets } from '../../shared/model/spec.ts'

export const activate = (a: Activation, z: number): number => {
  switch (a) {
    case 'elu':
      return z > 0 ? z : Math.expm1(z)
    case 'silu':
      return z / (1 + Math.exp(-z))
    case 'tanh':
      return Math.tanh(z)
    case 'relu':
      return z > 0 ? z : 0
  }
}

/** The input features `[t, cos πt, sin πt, …, x₁ … x_d]` of one point. */
export const features = (spec: MlpSpec, t: number, x: ArrayLike<number>): number[] => {
  const f = [t]
  for (let k = 1; k <= spec.frequencies; k++) f.push(Math.cos(k * Math.PI * t), Math.sin(k * Math.PI * t))
  for (let j = 0; j < spec.dim; j++) f.push(x[j])
  if (f.length !== inputWidth(spec)) throw new Error('feature width mismatch')
  return f
}

/** v(t, x) for one point, in f64. */
export const fieldPoint = (m: Mlp, t: number, x: ArrayLike<number>): number[] => {
  const layers = layerOffsets(m.spec)
  let h = features(m.spec, t, x)
  layers.forEach((L, l) => {
    const z = new Array<number>(L.out)
    for (let o = 0; o < L.out; o++) {
      let s = m.params[L.b + o]
      for (let i = 0; i < L.in; i++) s += m.params[L.w + o * L.in + i] * h[i]
      z[o] = l < layers.length - 1 ? activate(m.spec.activation, s) : s
    }
    h = z
  })
  return h
}

/** v(t, x) for n points: `t` of length n, `x` row-major [n, d]; returns row-major [n, d]. */
export const fieldRef = (m: Mlp, t: ArrayLike<number>, x: ArrayLike<number>): Float64Array => {
  const d = m.spec.dim
  const n = t.length
  const out = new Float64Array(n * d)
  for (let i = 0; i < n; i++) {
    const v = fieldPoint(m, t[i], Array.from({ length: d }, (_, j) => x[i * d + j]))
    for (let j = 0; j < d; j++) out[i * d + j] = v[j]
  }
  return out
}
