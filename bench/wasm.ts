/**
 * The WASM side of `npm run bench`: the kernel's RK4 generation loop (`integratePtr` over a
 * `WasmField`) on a state kept in the core's linear memory, one variant per `Core`.
 */
import { WasmField } from '../shared/core/field.ts'
import { integratePtr } from '../shared/core/ode.ts'
import { Core, type Variant } from '../shared/core/wasm.ts'
import type { Mlp } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A generator on one core variant: a loaded field and a state buffer for up to `capacity` points. */
export interface WasmGenerator {
  readonly variant: Variant
  /**
   * Seconds to integrate `n` points whose structure-of-arrays state `[d][n]` is the first `d · n`
   * values of `z` (copied in first, not timed).
   */
  time(z: Float32Array, n: number, steps: number): number
  /** Integrates the `n` points of `z` (the same layout) and returns the result. */
  integrate(z: Float32Array, n: number, steps: number): Float32Array
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A generator for `m` on a fresh core of `variant` (`relaxed` needs a runtime with relaxed SIMD),
 * with room for `capacity` points.
 */
export const wasmGenerator = (variant: Variant, m: Mlp, capacity: number): WasmGenerator => {
  const core = new Core(variant)
  const field = new WasmField(core, m)
  const d = m.spec.dim
  const state = core.allocF32(d * capacity)
  const load = (z: Float32Array, n: number): void => {
    if (n > capacity) throw new RangeError(`wasm generator: ${n} points exceed its capacity of ${capacity}`)
    core.f32(state, d * n).set(z.subarray(0, d * n))
  }
  const run = (n: number, steps: number): void => {
    const st = integratePtr(field, state, n, { kind: 'rk4', steps }, 0, 1)
    if (st.evaluations !== 4 * steps)
      throw new Error(`the rk4 kernel made ${st.evaluations} evaluations, not ${4 * steps}`)
  }
  return {
    variant: core.variant,
    time: (z, n, steps) => {
      load(z, n)
      const start = process.hrtime.bigint()
      run(n, steps)
      return Number(process.hrtime.bigint() - start) / 1e9
    },
    integrate: (z, n, steps) => {
      load(z, n)
      run(n, steps)
      return core.f32(state, d * n).slice()
    },
  }
}
