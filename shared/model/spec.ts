/**
 * The vector-field family `v(t, x; θ)` of the paper (section 4.2) and its canonical parameter
 * layout, shared by the WASM kernels, ONNX import/export and training.
 *
 * Input features, in this order: `[t, cos πt, sin πt, cos 2πt, sin 2πt, …, cos Kπt, sin Kπt, x₁ … x_d]`
 * (`K = frequencies`), then `hidden.length` hidden layers with the activation, then a linear
 * output of width `d`. Parameters are stored layer by layer as PyTorch's `nn.Linear` does:
 * `W` row-major with shape `[out, in]`, then `b` of length `out`.
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Activation = 'elu' | 'silu' | 'tanh' | 'relu'

export const ACTIVATIONS: readonly Activation[] = ['elu', 'silu', 'tanh', 'relu']

export interface MlpSpec {
  /** Data dimension `d` (2 for the Gamma ring). */
  readonly dim: number
  /** Widths of the hidden layers. */
  readonly hidden: readonly number[]
  readonly activation: Activation
  /** Number `K` of time frequencies `kπ`, k = 1…K. */
  readonly frequencies: number
}

/** A vector field: its architecture and its parameters in the canonical layout. */
export interface Mlp {
  readonly spec: MlpSpec
  readonly params: Float32Array
}

/** The paper's model: 9 inputs, 32-32-32 ELU, output 2; 2498 parameters. */
export const PAPER_SPEC: MlpSpec = { dim: 2, hidden: [32, 32, 32], activation: 'elu', frequencies: 3 }

// -------------------------------------------------------------------------------------
// layout
// -------------------------------------------------------------------------------------

/** Width of the input layer: `1 + 2K + d`. */
export const inputWidth = (spec: MlpSpec): number => 1 + 2 * spec.frequencies + spec.dim

/** `[out, in]` of every linear layer, input to output. */
export const layerShapes = (spec: MlpSpec): ReadonlyArray<readonly [number, number]> => {
  const widths = [inputWidth(spec), ...spec.hidden, spec.dim]
  return widths.slice(1).map((out, l) => [out, widths[l]] as const)
}

export interface LayerOffsets {
  readonly out: number
  readonly in: number
  /** Offset (in floats) of `W`, row-major `[out, in]`. */
  readonly w: number
  /** Offset (in floats) of `b`. */
  readonly b: number
}

/** Where each layer's `W` and `b` start in the flat parameter vector. */
export const layerOffsets = (spec: MlpSpec): readonly LayerOffsets[] => {
  let at = 0
  return layerShapes(spec).map(([out, inp]) => {
    const o = { out, in: inp, w: at, b: at + out * inp }
    at += out * inp + out
    return o
  })
}

/** Number of parameters: Σ (in + 1) · out over the layers. */
export const parameterCount = (spec: MlpSpec): number =>
  layerShapes(spec).reduce((n, [out, inp]) => n + (inp + 1) * out, 0)

/** Checks a spec, returning a message naming the offending field, or undefined if it is valid. */
export const specProblem = (spec: MlpSpec): string | undefined => {
  if (!Number.isInteger(spec.dim) || spec.dim < 1) return `dim must be a positive integer, got ${spec.dim}`
  if (spec.hidden.length < 1) return 'hidden must list at least one layer width'
  const bad = spec.hidden.find((w) => !Number.isInteger(w) || w < 1)
  if (bad !== undefined) return `hidden widths must be positive integers, got ${bad}`
  if (!ACTIVATIONS.includes(spec.activation))
    return `activation must be one of ${ACTIVATIONS.join(', ')}, got '${spec.activation}'`
  if (!Number.isInteger(spec.frequencies) || spec.frequencies < 0)
    return `frequencies must be a non-negative integer, got ${spec.frequencies}`
  return undefined
}

/** Builds an `Mlp`, checking that `params` has the length the spec asks for. */
export const mlp = (spec: MlpSpec, params: ArrayLike<number>): Mlp => {
  const problem = specProblem(spec)
  if (problem !== undefined) throw new RangeError(`invalid model spec: ${problem}`)
  const want = parameterCount(spec)
  if (params.length !== want)
    throw new RangeError(`model has ${params.length} parameters, its spec needs ${want}`)
  return { spec, params: Float32Array.from(params) }
}
