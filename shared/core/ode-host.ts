/**
 * ODE solvers on the host, for vector fields that the WASM kernel cannot run (ONNX graphs outside
 * the MLP family, evaluated by onnxruntime-node). Same methods and the same step control as the
 * WASM solvers (wasm/assembly/ode.ts): fixed-step Euler, midpoint, RK4, and Dormand–Prince 5(4)
 * with one step size per batch and the error norm taken as the maximum over points of the per-point
 * RMS of err / (atol + rtol · max(|x|, |x_new|)).
 *
 * State is row-major `[n, d]` in f64; the field receives and returns f32 (what ONNX models take).
 */
import { type IntegrationStats, type Solver, solverProblem } from './ode.ts'

/** v(t, x) for a batch: `x` row-major [n, d]; resolves to row-major [n, d]. */
export type HostField = (t: number, x: Float32Array) => Promise<Float32Array>

// Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", J. Comp. Appl. Math. 6(1).
// prettier-ignore
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1]
// prettier-ignore
const A: number[][] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
// 5th-order weights (= last row of A, FSAL) and the difference to the embedded 4th-order ones.
// prettier-ignore
const B5 = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]
// prettier-ignore
const E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]

const toF32 = (x: Float64Array): Float32Array => Float32Array.from(x)

/** Integrates `x0` (row-major [n, d]) from t0 to t1; returns the final state in f32. */
export const integrateHost = async (
  field: HostField,
  x0: Float32Array,
  d: number,
  solver: Solver,
  t0 = 0,
  t1 = 1,
): Promise<{ x: Float32Array; stats: IntegrationStats }> => {
  const problem = solverProblem(solver)
  if (problem !== undefined) throw new RangeError(`invalid solver: ${problem}`)
  const x: Float64Array = Float64Array.from(x0)
  const stats = { evaluations: 0, steps: 0, rejected: 0 }
  const f = async (t: number, y: Float64Array): Promise<Float64Array> => {
    stats.evaluations++
    return Float64Array.from(await field(t, toF32(y)))
  }
  const axpy = (y: Float64Array, terms: ReadonlyArray<readonly [number, Float64Array]>): Float64Array => {
    const out = Float64Array.from(y)
    for (const [a, k] of terms) if (a !== 0) for (let i = 0; i < out.length; i++) out[i] += a * k[i]
    return out
  }

  if (solver.kind !== 'dopri5') {
    const h = (t1 - t0) / solver.steps
    let y = x
    for (let s = 0; s < solver.steps; s++) {
      const t = t0 + s * h
      const k1 = await f(t, y)
      if (solver.kind === 'euler') y = axpy(y, [[h, k1]])
      else if (solver.kind === 'midpoint') y = axpy(y, [[h, await f(t + h / 2, axpy(y, [[h / 2, k1]]))]])
      else {
        const k2 = await f(t + h / 2, axpy(y, [[h / 2, k1]]))
        const k3 = await f(t + h / 2, axpy(y, [[h / 2, k2]]))
        const k4 = await f(t + h, axpy(y, [[h, k3]]))
        y = axpy(y, [[h / 6, k1], [h / 3, k2], [h / 3, k3], [h / 6, k4]])
      }
      stats.steps++
    }
    return { x: toF32(y), stats }
  }

  // Dormand–Prince 5(4), shared step, controller h ← h · clamp(0.9 · err^(−1/5), 0.2, 10).
  const { rtol, atol } = solver
  const maxSteps = solver.maxSteps ?? 10_000
  const dir = Math.sign(t1 - t0)
  const n = x.length / d
  const norm = (y: Float64Array, yNew: Float64Array, err: Float64Array): number => {
    let worst = 0
    for (let p = 0; p < n; p++) {
      let s = 0
      for (let j = 0; j < d; j++) {
        const i = p * d + j
        const sc = atol + rtol * Math.max(Math.abs(y[i]), Math.abs(yNew[i]))
        s += (err[i] / sc) ** 2
      }
      // A point that has gone non-finite is carried along (and later counted as invalid), not
      // allowed to stall the whole batch's step control.
      if (Number.isFinite(s)) worst = Math.max(worst, Math.sqrt(s / d))
    }
    return worst
  }
  let y = x
  let t = t0
  let k1 = await f(t, y)
  // Initial step (Hairer, Nørsett & Wanner, Solving ODEs I, II.4): h₀ = 0.01 · ‖y‖ / ‖f(t₀, y)‖.
  let d0 = 0
  let d1 = 0
  for (let i = 0; i < y.length; i++) {
    const sc = atol + rtol * Math.abs(y[i])
    d0 += (y[i] / sc) ** 2
    d1 += (k1[i] / sc) ** 2
  }
  const h0 = d0 < 1e-10 || d1 < 1e-10 ? 1e-6 : 0.01 * Math.sqrt(d0 / d1)
  let h = dir * Math.min(Math.abs(t1 - t0), h0)
  while (dir * (t1 - t) > 0) {
    if (stats.steps + stats.rejected >= maxSteps)
      throw new Error(`dopri5 did not reach t = ${t1} within ${maxSteps} steps (at t = ${t})`)
    if (dir * (t + h - t1) > 0) h = t1 - t
    const k: Float64Array[] = [k1]
    for (let s = 1; s < 7; s++) {
      const terms = A[s].map((a, j) => [h * a, k[j]] as const)
      k.push(await f(t + C[s] * h, axpy(y, terms)))
    }
    const yNew = axpy(y, B5.map((b, j) => [h * b, k[j]] as const))
    const err = axpy(new Float64Array(y.length), E.map((e, j) => [h * e, k[j]] as const))
    const e = norm(y, yNew, err)
    if (e <= 1) {
      t += h
      y = yNew
      k1 = k[6]
      stats.steps++
    } else stats.rejected++
    // A non-finite error (NaN from the field) shrinks the step as much as allowed.
    const factor = e === 0 ? 10 : Number.isFinite(e) ? Math.min(10, Math.max(0.2, 0.9 * e ** -0.2)) : 0.2
    h *= factor
  }
  return { x: toF32(y), stats }
}
