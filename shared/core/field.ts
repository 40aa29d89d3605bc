/**
 * The vector field `v(t, x; θ)` evaluated by the WASM core (wasm/assembly/mlp.ts).
 *
 * A `WasmField` copies its model into the core's memory once, at construction: an i32 descriptor
 * `[d, K, H, activation, w₁ … w_H]` and the f32 parameters in the canonical layout of
 * shared/model/spec.ts. Those two buffers sit in the core's arena below the mark taken after the
 * construction, so a field stays valid as long as nobody resets its core's arena below that mark
 * (build fields outside `core.scoped`, or use them only inside the scope that built them).
 *
 * Points cross the boundary in two layouts: row-major `[n, d]` (`evaluate`, the JS-facing API)
 * and structure-of-arrays `[d][n]` (`evaluatePtr`, the kernels' layout: x₁ of every point, then
 * x₂, …).
 */
import { type Activation, type Mlp, ACTIVATIONS, parameterCount, specProblem } from '../model/spec.ts'
import type { Core } from './wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

type FieldShared = (desc: number, params: number, t: number, x: number, n: number, out: number, ws: number) => void
type FieldPerPoint = (desc: number, params: number, t: number, x: number, n: number, out: number, ws: number) => void

/** The kernel's activation code: 0 ELU, 1 SiLU, 2 tanh, 3 ReLU (the order of `ACTIVATIONS`). */
export const activationCode = (a: Activation): number => {
  const code = ACTIVATIONS.indexOf(a)
  if (code < 0) throw new RangeError(`unknown activation '${a}'`)
  return code
}

/** The kernel's model descriptor `[d, K, H, activation, w₁ … w_H]`. */
export const descriptor = (m: Mlp): Int32Array =>
  Int32Array.from([m.spec.dim, m.spec.frequencies, m.spec.hidden.length, activationCode(m.spec.activation), ...m.spec.hidden])

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** A model resident in a core's memory, evaluated by the SIMD kernel. */
export class WasmField {
  readonly core: Core
  readonly model: Mlp
  /** Offset of the i32 descriptor in the core's memory. */
  readonly descPtr: number
  /** Offset of the f32 parameters in the core's memory. */
  readonly paramsPtr: number
  /** Bytes of workspace one kernel call needs. */
  readonly workspaceBytes: number

  constructor(core: Core, model: Mlp) {
    const problem = specProblem(model.spec)
    if (problem !== undefined) throw new RangeError(`invalid model spec: ${problem}`)
    const want = parameterCount(model.spec)
    if (model.params.length !== want)
      throw new RangeError(`model has ${model.params.length} parameters, its spec needs ${want}`)
    this.core = core
    this.model = model
    this.descPtr = core.putI32(descriptor(model))
    this.paramsPtr = core.putF32(model.params)
    const count = core.fn<(desc: number) => number>('fieldParameterCount')(this.descPtr)
    if (count !== want) throw new Error(`the core counts ${count} parameters for this spec, the spec ${want}`)
    this.workspaceBytes = core.fn<(desc: number) => number>('fieldWorkspaceBytes')(this.descPtr)
  }

  /** Data dimension d. */
  get dim(): number {
    return this.model.spec.dim
  }

  // -------------------------------------------------------------------------------------
  // evaluation
  // -------------------------------------------------------------------------------------

  /**
   * v(t, x) for n points given row-major `[n, d]`; `t` is one time shared by all points or one
   * per point. Returns row-major `[n, d]`.
   */
  evaluate(t: number | ArrayLike<number>, x: Float32Array): Float32Array {
    const d = this.dim
    if (x.length % d !== 0) throw new RangeError(`x has ${x.length} values, not a multiple of the dimension ${d}`)
    const n = x.length / d
    if (typeof t !== 'number' && t.length !== n)
      throw new RangeError(`t has ${t.length} values for ${n} points`)
    const c = this.core
    return c.scoped(() => {
      const xp = c.allocF32(n * d)
      const op = c.allocF32(n * d)
      const xs = c.f32(xp, n * d)
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xs[j * n + i] = x[i * d + j]
      if (typeof t === 'number') this.evaluatePtr(t, xp, n, op)
      else {
        const tp = c.putF64(t)
        const ws = c.alloc(this.workspaceBytes)
        c.fn<FieldPerPoint>('fieldPerPoint')(this.descPtr, this.paramsPtr, tp, xp, n, op, ws)
      }
      const os = c.f32(op, n * d)
      const out = new Float32Array(n * d)
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = os[j * n + i]
      return out
    })
  }

  /**
   * v(t, x) for n points sharing t, in the core's memory: `xPtr` and `outPtr` are SoA `[d][n]`
   * f32 buffers (they may be the same buffer).
   */
  evaluatePtr(t: number, xPtr: number, n: number, outPtr: number): void {
    const c = this.core
    c.scoped(() => {
      const ws = c.alloc(this.workspaceBytes)
      c.fn<FieldShared>('fieldShared')(this.descPtr, this.paramsPtr, t, xPtr, n, outPtr, ws)
    })
  }
}
