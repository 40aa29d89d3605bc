/** Helpers shared by the test suites: deterministic random numbers, random models, error norms. */
import { type Mlp, type MlpSpec, layerOffsets, layerShapes, mlp, parameterCount } from '../shared/model/spec.ts'

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
export const uniform = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A model with weights uniform in ±√(3/in)·gain (unit-variance pre-activations) and small biases. */
export const randomMlp = (spec: MlpSpec, seed: number, gain = 1): Mlp => {
  const u = uniform(seed)
  const params: number[] = []
  for (const [out, inp] of layerShapes(spec)) {
    const a = gain * Math.sqrt(3 / inp)
    for (let i = 0; i < out * inp; i++) params.push(a * (2 * u() - 1))
    for (let i = 0; i < out; i++) params.push(0.5 * (2 * u() - 1))
  }
  return mlp(spec, params)
}

/** max|a − b| / max(1, max|b|): relative error for O(1) outputs, absolute near zero. */
export const relErr = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let diff = 0
  let scale = 1
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return Number.isNaN(diff) ? Infinity : diff / scale // a NaN anywhere fails every bound
}


/** max_k |a_k − b_k| / max_k |b_k|: the error relative to the vector's scale (gradients). */
export const relMaxError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let num = 0
  let den = 0
  for (let k = 0; k < b.length; k++) {
    num = Math.max(num, Math.abs(a[k] - b[k]))
    den = Math.max(den, Math.abs(b[k]))
  }
  return num / den
}

/** A standard normal from two uniforms of `r` (Box–Muller). */
export const normal = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())

/** Parameters U(±scale/√fan_in), a little wider than PyTorch's default so that activations bend. */
export const randomParams = (spec: MlpSpec, r: () => number, scale = 1.5): Float32Array => {
  const p = new Float32Array(parameterCount(spec))
  for (const L of layerOffsets(spec))
    for (let k = L.w; k < L.b + L.out; k++) p[k] = ((2 * r() - 1) * scale) / Math.sqrt(L.in)
  return p
}
