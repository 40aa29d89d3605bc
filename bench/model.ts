/**
 * The model and latent points every side of `npm run bench` integrates: the paper's vector field
 * with fixed, deterministic random weights, and standard-normal starting points.
 *
 * Throughput does not depend on the weight values as long as they are finite and the activations
 * see both signs, which PyTorch's default `nn.Linear` initialization (uniform ±1/√fan_in, weights
 * and biases) ensures; that is what `benchModel` draws, from a small seeded generator.
 */
import { type Mlp, type MlpSpec, PAPER_SPEC, layerOffsets, mlp, parameterCount } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A seeded uniform generator on [0, 1): mulberry32, a 32-bit state advanced by a Weyl step and
 * mixed by two multiply-xorshift rounds. Good enough for weights and benchmark inputs, not for
 * statistics.
 */
export const uniforms = (seed: number): (() => number) => {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }
}

/** The model under test: `spec` with weights and biases uniform in ±1/√fan_in, drawn from `seed`. */
export const benchModel = (spec: MlpSpec = PAPER_SPEC, seed = 1): Mlp => {
  const u = uniforms(seed)
  const params = new Float32Array(parameterCount(spec))
  for (const L of layerOffsets(spec)) {
    const bound = 1 / Math.sqrt(L.in)
    for (let i = 0; i < L.out * L.in; i++) params[L.w + i] = (2 * u() - 1) * bound
    for (let o = 0; o < L.out; o++) params[L.b + o] = (2 * u() - 1) * bound
  }
  return mlp(spec, params)
}

/**
 * `n` standard-normal points in `dim` dimensions (Box–Muller), structure of arrays: coordinate
 * `j` of point `i` at `[j · n + i]`.
 */
export const latents = (n: number, dim: number, seed = 2): Float32Array => {
  const u = uniforms(seed)
  const z = new Float32Array(n * dim)
  for (let i = 0; i < z.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()))
    const a = 2 * Math.PI * u()
    z[i] = r * Math.cos(a)
    if (i + 1 < z.length) z[i + 1] = r * Math.sin(a)
  }
  return z
}

/** Converts structure-of-arrays `[dim][n]` to row-major `[n][dim]` (what ONNX and PyTorch take). */
export const soaToRows = (soa: Float32Array, n: number, dim: number, out = new Float32Array(n * dim)): Float32Array => {
  for (let j = 0; j < dim; j++) for (let i = 0; i < n; i++) out[i * dim + j] = soa[j * n + i]
  return out
}

/** Converts row-major `[n][dim]` to structure of arrays `[dim][n]`. */
export const rowsToSoa = (
  rows: Float32Array,
  n: number,
  dim: number,
  out = new Float32Array(n * dim),
): Float32Array => {
  for (let j = 0; j < dim; j++) for (let i = 0; i < n; i++) out[j * n + i] = rows[i * dim + j]
  return out
}
