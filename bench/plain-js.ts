/**
 * The generation loop in plain JavaScript: the vector field on `Float32Array` buffers with
 * `Math.expm1`, and fixed-step RK4, the same loop as the WASM kernel (`integratePtr` with
 * `{kind: 'rk4'}`), so that `npm run bench` can say what WebAssembly SIMD buys over the obvious
 * JavaScript.
 *
 * Semantics: the state and the stage slopes live in f32 arrays, structure of arrays (coordinate
 * `j` of point `i` at `[j · n + i]`); each neuron's sum and activation are computed in f64 (JS
 * numbers) from the f32 parameters. The time features `cos kπt, sin kπt` are the same for every
 * point of a stage, so their part of the first layer is folded into its bias once per call.
 */
import { type Activation, type Mlp, inputWidth, layerOffsets, layerShapes } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

const activations: Record<Activation, (z: number) => number> = {
  elu: (z) => (z > 0 ? z : Math.expm1(z)),
  silu: (z) => z / (1 + Math.exp(-z)),
  tanh: (z) => Math.tanh(z),
  relu: (z) => (z > 0 ? z : 0),
}

/**
 * FLOP of the linear layers' multiply-adds in one field evaluation, 2 · Σ in · out: 4800 for the
 * paper's model. Bias adds and activations are not counted. (The anchors in shared/anchors count
 * 4932 = 2 × 2466 for the same model; `npm run bench` reports fractions of peak with both.)
 */
export const macFlopPerEvaluation = (m: Mlp): number =>
  layerShapes(m.spec).reduce((f, [out, inp]) => f + 2 * out * inp, 0)

/**
 * As `macFlopPerEvaluation` when the time features are folded into the first layer's bias (once
 * per stage, not per point): the first layer multiplies only the `d` data inputs. 4352 for the
 * paper's model.
 */
export const foldedMacFlopPerEvaluation = (m: Mlp): number => {
  const [first] = layerShapes(m.spec)
  return macFlopPerEvaluation(m) - 2 * first[0] * (inputWidth(m.spec) - m.spec.dim)
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The vector field of `model`, evaluated point by point in plain JavaScript. */
export class PlainField {
  readonly model: Mlp
  /** The parameters widened once to f64 (exact), saving a conversion per load. */
  private readonly p: Float64Array
  private readonly act: (z: number) => number
  private readonly layers: ReturnType<typeof layerOffsets>
  /** The first layer's bias with the time features folded in, for the current `t`. */
  private readonly bias0: Float64Array
  /** Activations of the widest layer, twice (input and output of a layer). */
  private readonly h: Float64Array
  private readonly g: Float64Array

  constructor(model: Mlp) {
    this.model = model
    this.p = Float64Array.from(model.params)
    this.act = activations[model.spec.activation]
    this.layers = layerOffsets(model.spec)
    const widest = Math.max(inputWidth(model.spec), ...model.spec.hidden, model.spec.dim)
    this.bias0 = new Float64Array(this.layers[0].out)
    this.h = new Float64Array(widest)
    this.g = new Float64Array(widest)
  }

  // -------------------------------------------------------------------------------------
  // kernels
  // -------------------------------------------------------------------------------------

  /** `out ← v(t, x)` for `n` points, both structure of arrays `[d][n]`. */
  evaluate(t: number, x: Float32Array, n: number, out: Float32Array): void {
    const p = this.p
    const spec = this.model.spec
    const d = spec.dim
    const act = this.act
    const layers = this.layers
    const last = layers.length - 1
    // Bias of layer 0 with b + W[:, 0] t + Σ_k (W[:, 2k−1] cos kπt + W[:, 2k] sin kπt).
    const L0 = layers[0]
    const nt = L0.in - d
    for (let o = 0; o < L0.out; o++) {
      const w = L0.w + o * L0.in
      let s = p[L0.b + o] + p[w] * t
      for (let k = 1; k <= spec.frequencies; k++)
        s += p[w + 2 * k - 1] * Math.cos(k * Math.PI * t) + p[w + 2 * k] * Math.sin(k * Math.PI * t)
      this.bias0[o] = s
    }
    let h = this.h
    let g = this.g
    for (let i = 0; i < n; i++) {
      // layer 0: only the data inputs remain
      for (let o = 0; o < L0.out; o++) {
        const w = L0.w + o * L0.in + nt
        let s = this.bias0[o]
        for (let j = 0; j < d; j++) s += p[w + j] * x[j * n + i]
        h[o] = last === 0 ? s : act(s)
      }
      for (let l = 1; l <= last; l++) {
        const L = layers[l]
        for (let o = 0; o < L.out; o++) {
          const w = L.w + o * L.in
          let s = p[L.b + o]
          for (let j = 0; j < L.in; j++) s += p[w + j] * h[j]
          g[o] = l === last ? s : act(s)
        }
        const swap = h
        h = g
        g = swap
      }
      for (let j = 0; j < d; j++) out[j * n + i] = h[j]
    }
  }
}

/** Scratch buffers of `integrateRk4Plain`, reusable across calls of the same size. */
export interface Rk4Scratch {
  readonly k: Float32Array
  readonly sum: Float32Array
  readonly xs: Float32Array
}

/** Scratch for `size = d · n` floats. */
export const rk4Scratch = (size: number): Rk4Scratch => ({
  k: new Float32Array(size),
  sum: new Float32Array(size),
  xs: new Float32Array(size),
})

/**
 * Integrates `dx/dt = v(t, x)` in place from `t0` to `t1` with `steps` fixed RK4 steps
 * (4 evaluations each): `x ← x + h/6 · (k₁ + 2k₂ + 2k₃ + k₄)`, the stage times `t0 + s·h`,
 * `+ h/2`, `+ h/2`, `+ h` computed afresh each step. `x` is structure of arrays `[d][n]`.
 * Returns the number of field evaluations per point.
 */
export const integrateRk4Plain = (
  field: PlainField,
  x: Float32Array,
  n: number,
  steps: number,
  t0 = 0,
  t1 = 1,
  scratch: Rk4Scratch = rk4Scratch(x.length),
): number => {
  const size = field.model.spec.dim * n
  if (x.length < size) throw new RangeError(`state has ${x.length} floats, ${n} points need ${size}`)
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`RK4 steps must be a positive integer, got ${steps}`)
  const { k, sum, xs } = scratch
  const h = (t1 - t0) / steps
  for (let s = 0; s < steps; s++) {
    const t = t0 + s * h
    field.evaluate(t, x, n, k)
    for (let i = 0; i < size; i++) {
      sum[i] = k[i]
      xs[i] = x[i] + 0.5 * h * k[i]
    }
    field.evaluate(t + 0.5 * h, xs, n, k)
    for (let i = 0; i < size; i++) {
      sum[i] += 2 * k[i]
      xs[i] = x[i] + 0.5 * h * k[i]
    }
    field.evaluate(t + 0.5 * h, xs, n, k)
    for (let i = 0; i < size; i++) {
      sum[i] += 2 * k[i]
      xs[i] = x[i] + h * k[i]
    }
    field.evaluate(t + h, xs, n, k)
    for (let i = 0; i < size; i++) x[i] += (h / 6) * (sum[i] + k[i])
  }
  return 4 * steps
}
