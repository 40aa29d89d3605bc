/**
 * The WASM side of `npm run bench`: the kernel's RK4 generation loop (`integratePtr` over a
 * `WasmField`) on a state kept in the core's linear memory, one variant per `Core`.
 */
import { Core, type Variant } from '../shared/core/wasm.ts'
import type { Mlp } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** The parts of shared/core/field.ts and shared/core/ode.ts the bench drives. */
interface KernelApi {
  readonly WasmField: new (core: Core, model: Mlp) => object
  readonly integratePtr: (
    field: object,
    statePtr: number,
    n: number,
    solver: { kind: 'rk4'; steps: number },
    t0: number,
    t1: number,
  ) => { evaluations: number }
}

/** A generator on one core variant: a loaded field and a state buffer for up to `capacity` points. */
export interface WasmGenerator {
  readonly variant: Variant
  /** Seconds to integrate the `n` structure-of-arrays points `z` (copied in first, not timed). */
  time(z: Float32Array, n: number, steps: number): number
  /** Integrates `z` (structure of arrays, n points) and returns the result. */
  integrate(z: Float32Array, n: number, steps: number): Float32Array
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

let api: KernelApi | string | undefined

/** Loads the kernel's host API, or says why it is not there. */
const kernelApi = async (): Promise<KernelApi | string> => {
  if (api === undefined) {
    const field = '../shared/core/field.ts'
    const ode = '../shared/core/ode.ts'
    try {
      const f = (await import(field)) as Pick<KernelApi, 'WasmField'>
      const o = (await import(ode)) as Pick<KernelApi, 'integratePtr'>
      api = { WasmField: f.WasmField, integratePtr: o.integratePtr }
    } catch (e) {
      api = `the WASM field and solver (shared/core/field.ts, ode.ts) are not available: ${e instanceof Error ? e.message : String(e)}`
    }
  }
  return api
}

/** A generator for `m` on a fresh core of `variant`, or a string saying why there is none. */
export const wasmGenerator = async (variant: Variant, m: Mlp, capacity: number): Promise<WasmGenerator | string> => {
  const k = await kernelApi()
  if (typeof k === 'string') return k
  const core = new Core(variant)
  const field = new k.WasmField(core, m)
  const d = m.spec.dim
  const state = core.allocF32(d * capacity)
  const load = (z: Float32Array, n: number): void => {
    if (n > capacity) throw new RangeError(`wasm generator: ${n} points exceed its capacity of ${capacity}`)
    core.f32(state, d * n).set(z.subarray(0, d * n))
  }
  const run = (n: number, steps: number): void => {
    k.integratePtr(field, state, n, { kind: 'rk4', steps }, 0, 1)
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
