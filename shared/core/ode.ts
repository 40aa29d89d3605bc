/**
 * Integrating dx/dt = v(t, x; θ) with the WASM core's fused solvers (wasm/assembly/ode.ts), from
 * t0 = 0 (latent) to t1 = 1 (data) by default; t1 < t0 integrates backwards.
 *
 * Fixed-step Euler, midpoint and RK4 take `steps` equal steps. Dormand–Prince 5(4) adapts one
 * step size for the whole batch: a step is accepted when the maximum over points of the per-point
 * RMS of errᵢ / (atol + rtol·max(|xᵢ|, |x_newᵢ|)) is ≤ 1, points with a non-finite error being
 * skipped (they end non-finite and are counted invalid downstream). Every attempted step counts
 * against `maxSteps` (default 10000).
 */
import type { WasmField } from './field.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Solver =
  | { readonly kind: 'euler' | 'midpoint' | 'rk4'; readonly steps: number }
  | { readonly kind: 'dopri5'; readonly rtol: number; readonly atol: number; readonly maxSteps?: number }

export interface IntegrationStats {
  /** Field evaluations of the batch (each evaluates every point). */
  evaluations: number
  /** Accepted steps. */
  steps: number
  /** Rejected steps (dopri5 only). */
  rejected: number
}

/** Default cap on dopri5's attempted steps. */
export const DEFAULT_MAX_STEPS = 10_000

const METHOD = { euler: 0, midpoint: 1, rk4: 2 } as const
const ODE_OK = 0
const ODE_MAX_STEPS = 1

type OdeFixed = (
  desc: number, params: number, method: number, steps: number, t0: number, t1: number,
  state: number, n: number, ws: number, stats: number,
) => number
type OdeDopri5 = (
  desc: number, params: number, rtol: number, atol: number, maxSteps: number, t0: number, t1: number,
  state: number, n: number, ws: number, stats: number,
) => number

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const positiveInteger = (v: number): boolean => Number.isInteger(v) && v > 0 && v <= 0x7fffffff

/** Checks a solver, returning a message naming the offending field, or undefined if it is valid. */
export const solverProblem = (s: Solver): string | undefined => {
  switch (s.kind) {
    case 'euler':
    case 'midpoint':
    case 'rk4':
      return positiveInteger(s.steps) ? undefined : `${s.kind} steps must be a positive integer, got ${s.steps}`
    case 'dopri5':
      if (!(Number.isFinite(s.rtol) && s.rtol > 0)) return `dopri5 rtol must be a positive number, got ${s.rtol}`
      if (!(Number.isFinite(s.atol) && s.atol > 0)) return `dopri5 atol must be a positive number, got ${s.atol}`
      if (s.maxSteps !== undefined && !positiveInteger(s.maxSteps))
        return `dopri5 maxSteps must be a positive integer, got ${s.maxSteps}`
      return undefined
    default:
      return `solver kind must be one of euler, midpoint, rk4, dopri5, got '${(s as { kind: unknown }).kind}'`
  }
}

// -------------------------------------------------------------------------------------
// integration
// -------------------------------------------------------------------------------------

/**
 * Integrates n points in place: `statePtr` is an SoA `[d][n]` f32 buffer in the field's core.
 * Scratch memory is allocated and freed inside `core.scoped`. Throws on a malformed solver, a
 * non-finite time, or when dopri5 exceeds its maxSteps.
 */
export const integratePtr = (
  field: WasmField,
  statePtr: number,
  n: number,
  solver: Solver,
  t0 = 0,
  t1 = 1,
): IntegrationStats => {
  const problem = solverProblem(solver)
  if (problem !== undefined) throw new RangeError(`invalid solver: ${problem}`)
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) throw new RangeError(`integration times must be finite, got ${t0} → ${t1}`)
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`point count must be a non-negative integer, got ${n}`)
  const c = field.core
  return c.scoped(() => {
    const adaptive = solver.kind === 'dopri5'
    const ws = c.alloc(c.fn<(desc: number, n: number, adaptive: number) => number>('odeWorkspaceBytes')(field.descPtr, n, adaptive ? 1 : 0))
    const stats = c.alloc(12)
    let code: number
    if (solver.kind === 'dopri5') {
      const maxSteps = solver.maxSteps ?? DEFAULT_MAX_STEPS
      code = c.fn<OdeDopri5>('odeDopri5')(field.descPtr, field.paramsPtr, solver.rtol, solver.atol, maxSteps, t0, t1, statePtr, n, ws, stats)
    } else {
      code = c.fn<OdeFixed>('odeFixed')(field.descPtr, field.paramsPtr, METHOD[solver.kind], solver.steps, t0, t1, statePtr, n, ws, stats)
    }
    const s = c.i32(stats, 3)
    const result = { evaluations: s[0], steps: s[1], rejected: s[2] }
    if (code === ODE_MAX_STEPS && solver.kind === 'dopri5')
      throw new Error(
        `dopri5 exceeded maxSteps = ${solver.maxSteps ?? DEFAULT_MAX_STEPS} attempted steps ` +
          `(${result.steps} accepted, ${result.rejected} rejected) integrating ${t0} → ${t1} at rtol ${solver.rtol}, atol ${solver.atol}`,
      )
    if (code !== ODE_OK) throw new Error(`the ${solver.kind} kernel returned unknown code ${code}`)
    return result
  })
}

/**
 * Integrates n points given row-major `[n, d]` from t0 to t1; returns the end points (row-major)
 * and the solver's statistics.
 */
export const integrate = (
  field: WasmField,
  x0: Float32Array,
  solver: Solver,
  t0 = 0,
  t1 = 1,
): { x: Float32Array; stats: IntegrationStats } => {
  const d = field.dim
  if (x0.length % d !== 0) throw new RangeError(`x0 has ${x0.length} values, not a multiple of the dimension ${d}`)
  const n = x0.length / d
  const c = field.core
  return c.scoped(() => {
    const p = c.allocF32(n * d)
    const soa = c.f32(p, n * d)
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) soa[j * n + i] = x0[i * d + j]
    const stats = integratePtr(field, p, n, solver, t0, t1)
    const s = c.f32(p, n * d)
    const x = new Float32Array(n * d)
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = s[j * n + i]
    return { x, stats }
  })
}
