import { describe, expect, it } from 'vitest'
import { WasmField } from '../shared/core/field.ts'
import { type Solver, integrate, integratePtr, solverProblem } from '../shared/core/ode.ts'
import { Core, type Variant, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { type Mlp, type MlpSpec, PAPER_SPEC, mlp } from '../shared/model/spec.ts'
import { fieldPoint } from './reference/mlp.ts'
import { type FieldFn, type FixedMethod, integrateRef, observedOrder } from './reference/ode.ts'
import { randomMlp, relErr, uniform } from './util.ts'

// -------------------------------------------------------------------------------------
// fields
// -------------------------------------------------------------------------------------

/**
 * A ReLU net that is exactly the rotation v(x) = A·x, A = [[0, ω], [−ω, 0]], wherever |xᵢ| < B:
 * the hidden layer is h = relu(x + B) = x + B (positive there), the output A·h − A·B. A rotation
 * keeps |x|, so points of radius < B stay in that region, and x(t) = R(ωt)·x₀ in closed form.
 * B = 2 keeps the f32 rounding of x + B near 2.4e-7.
 */
const OMEGA = 3
const B = 2
const rotationSpec: MlpSpec = { dim: 2, hidden: [2], activation: 'relu', frequencies: 0 }
const rotation: Mlp = mlp(rotationSpec, [
  ...[0, 1, 0, 0, 0, 1], // W₁ [2, 3] over the features [t, x₁, x₂]
  ...[B, B], // b₁
  ...[0, OMEGA, -OMEGA, 0], // W₂ = A
  ...[-OMEGA * B, OMEGA * B], // b₂ = −A·(B, B)
])
const rotationExact = (x: readonly number[], t: number): number[] => {
  const c = Math.cos(OMEGA * t)
  const s = Math.sin(OMEGA * t)
  return [c * x[0] + s * x[1], -s * x[0] + c * x[1]]
}

const refField =
  (m: Mlp): FieldFn =>
  (t, x) =>
    fieldPoint(m, t, x)

/** Row-major points → one array per point. */
const rows = (x: ArrayLike<number>, d: number): number[][] =>
  Array.from({ length: x.length / d }, (_, i) => Array.from({ length: d }, (_, j) => x[i * d + j]))

const points = (n: number, d: number, seed: number, r = 1): Float32Array => {
  const u = uniform(seed)
  return Float32Array.from({ length: n * d }, () => r * (2 * u() - 1))
}

/** Largest Euclidean distance between matching points. */
const maxDistance = (a: ArrayLike<number>, b: readonly number[][]): number =>
  Math.max(...b.map((p, i) => Math.hypot(...p.map((v, j) => a[i * p.length + j] - v))))

const variants: Variant[] = ['simd', 'relaxed']
const skipVariant = (v: Variant): boolean => v === 'relaxed' && !relaxedSimdSupported()

describe('ode', () => {
  // -------------------------------------------------------------------------------------
  // validation
  // -------------------------------------------------------------------------------------

  it('solverProblem', () => {
    expect(solverProblem({ kind: 'rk4', steps: 16 })).toBeUndefined()
    expect(solverProblem({ kind: 'dopri5', rtol: 1e-5, atol: 1e-6 })).toBeUndefined()
    expect(solverProblem({ kind: 'euler', steps: 0 })).toMatch(/euler steps must be a positive integer, got 0/)
    expect(solverProblem({ kind: 'midpoint', steps: 2.5 })).toMatch(/positive integer, got 2.5/)
    expect(solverProblem({ kind: 'dopri5', rtol: 0, atol: 1e-6 })).toMatch(/rtol must be a positive number, got 0/)
    expect(solverProblem({ kind: 'dopri5', rtol: 1e-3, atol: -1 })).toMatch(/atol must be a positive number/)
    expect(solverProblem({ kind: 'dopri5', rtol: 1e-3, atol: NaN })).toMatch(/atol/)
    expect(solverProblem({ kind: 'dopri5', rtol: 1e-3, atol: 1e-3, maxSteps: 0 })).toMatch(/maxSteps/)
    expect(solverProblem({ kind: 'bdf', steps: 3 } as unknown as Solver)).toMatch(/solver kind must be one of/)
  })

  it('integrate throws on a malformed solver', () => {
    const f = new WasmField(new Core('simd'), rotation)
    expect(() => integrate(f, new Float32Array(2), { kind: 'rk4', steps: -1 })).toThrow(/invalid solver: rk4 steps/)
    expect(() => integrate(f, new Float32Array(2), { kind: 'dopri5', rtol: 1e-3, atol: 0 })).toThrow(/invalid solver/)
  })

  // -------------------------------------------------------------------------------------
  // fixed step: kernel against the f64 reference
  // -------------------------------------------------------------------------------------

  // Tolerance 1e-5 in max|Δ| / max(1, max|ref|): each field evaluation is within a few 1e-7 of
  // the f64 reference (test/mlp.test.ts) and a step adds a few f32 roundings of the state; over
  // ≤ 64 evaluations of a field with Lipschitz constant O(1) that stays below ~3e-6.
  const methods: FixedMethod[] = ['euler', 'midpoint', 'rk4']
  for (const v of variants) {
    for (const method of methods) {
      it.skipIf(skipVariant(v))(`${v} ${method}: kernel = reference on the paper model`, () => {
        const m = randomMlp(PAPER_SPEC, 11)
        const f = new WasmField(new Core(v), m)
        const steps = method === 'rk4' ? 16 : 8
        const sizes = method === 'rk4' ? [1, 3, 4, 5, 8, 13, 64, 257] : [1, 5, 13, 64, 257]
        for (const n of sizes) {
          const x0 = points(n, 2, n, 2)
          const { x, stats } = integrate(f, x0, { kind: method, steps })
          const want = rows(x0, 2).flatMap((p) => integrateRef(method, refField(m), p, steps))
          expect(relErr(x, want), `n=${n}`).toBeLessThan(1e-5)
          expect(stats).toEqual({ evaluations: steps * { euler: 1, midpoint: 2, rk4: 4 }[method], steps, rejected: 0 })
        }
      })
    }
  }

  it('rk4 on a deeper 3-d tanh model with time frequencies, t from 0.2 to 0.9', () => {
    const m = randomMlp({ dim: 3, hidden: [7, 13, 5], activation: 'tanh', frequencies: 4 }, 12)
    const f = new WasmField(new Core('simd'), m)
    const x0 = points(67, 3, 8, 2)
    const { x } = integrate(f, x0, { kind: 'rk4', steps: 10 }, 0.2, 0.9)
    const want = rows(x0, 3).flatMap((p) => integrateRef('rk4', refField(m), p, 10, 0.2, 0.9))
    expect(relErr(x, want)).toBeLessThan(1e-5)
  })

  it('integrating backwards undoes integrating forwards', () => {
    const f = new WasmField(new Core('simd'), randomMlp(PAPER_SPEC, 13))
    const x0 = points(100, 2, 9, 2)
    const there = integrate(f, x0, { kind: 'rk4', steps: 64 }).x
    const back = integrate(f, there, { kind: 'rk4', steps: 64 }, 1, 0).x
    // RK4's error at h = 1/64 on an O(1) field is ~1e-7·C, f32 rounding a few 1e-7 per step
    expect(relErr(back, x0)).toBeLessThan(2e-5)
  })

  it('t0 = t1 leaves the points as they are', () => {
    const f = new WasmField(new Core('simd'), randomMlp(PAPER_SPEC, 13))
    const x0 = points(5, 2, 9)
    expect(Array.from(integrate(f, x0, { kind: 'dopri5', rtol: 1e-4, atol: 1e-4 }, 0.5, 0.5).x)).toEqual(Array.from(x0))
    expect(integrate(f, x0, { kind: 'dopri5', rtol: 1e-4, atol: 1e-4 }, 0.5, 0.5).stats.evaluations).toBe(0)
  })

  // -------------------------------------------------------------------------------------
  // order of convergence on the closed-form rotation
  // -------------------------------------------------------------------------------------

  // Step counts keep the finest error well above the f32 noise floor (~1e-6) of the kernel.
  const ladders: Record<FixedMethod, { steps: number[]; order: number }> = {
    euler: { steps: [32, 64, 128, 256], order: 1 },
    midpoint: { steps: [8, 16, 32, 64], order: 2 },
    rk4: { steps: [4, 8, 16], order: 4 },
  }
  const x0 = points(20, 2, 21, 0.7) // radius < 1 < B
  const exact = rows(x0, 2).map((p) => rotationExact(p, 1))

  for (const method of methods) {
    const { steps, order } = ladders[method]
    it(`${method} converges with order ${order} (reference f64 and kernel f32)`, () => {
      const f = new WasmField(new Core('simd'), rotation)
      const hs = steps.map((s) => 1 / s)
      const refErrs = steps.map((s) =>
        maxDistance(rows(x0, 2).flatMap((p) => integrateRef(method, refField(rotation), p, s)), exact),
      )
      const kernelErrs = steps.map((s) => maxDistance(integrate(f, x0, { kind: method, steps: s }).x, exact))
      // the fitted log-log slope; ±0.15 allows the next error term at these step sizes
      expect(observedOrder(hs, refErrs)).toBeGreaterThan(order - 0.15)
      expect(observedOrder(hs, refErrs)).toBeLessThan(order + 0.15)
      expect(observedOrder(hs, kernelErrs)).toBeGreaterThan(order - 0.15)
      expect(observedOrder(hs, kernelErrs)).toBeLessThan(order + 0.15)
    })
  }

  // -------------------------------------------------------------------------------------
  // dopri5
  // -------------------------------------------------------------------------------------

  for (const v of variants) {
    for (const tol of [1e-3, 1e-5]) {
      it.skipIf(skipVariant(v))(`${v} dopri5 meets rtol = atol = ${tol} on the rotation`, () => {
        const f = new WasmField(new Core(v), rotation)
        const { x, stats } = integrate(f, x0, { kind: 'dopri5', rtol: tol, atol: tol })
        // global error after 1.5 turns of the rotation: within a small multiple of the local
        // tolerance scale atol + rtol·|x| (|x| < 1)
        expect(maxDistance(x, exact)).toBeLessThan(5 * 2 * tol)
        expect(maxDistance(x, exact)).toBeGreaterThan(0)
        expect(stats.evaluations).toBe(2 + 6 * (stats.steps + stats.rejected))
      })
    }
  }

  it('dopri5 meets its tolerance on the paper model against a fine f64 RK4', () => {
    const m = randomMlp(PAPER_SPEC, 17, 1.5)
    const f = new WasmField(new Core('simd'), m)
    const start = points(13, 2, 23, 2)
    const fine = rows(start, 2).map((p) => integrateRef('rk4', refField(m), p, 1024))
    for (const tol of [1e-3, 1e-5]) {
      const { x, stats } = integrate(f, start, { kind: 'dopri5', rtol: tol, atol: tol })
      const scale = Math.max(1, ...fine.flat().map(Math.abs))
      expect(maxDistance(x, fine), `tol ${tol}`).toBeLessThan(10 * tol * scale)
      expect(stats.evaluations).toBe(2 + 6 * (stats.steps + stats.rejected))
    }
  })

  it('dopri5 counts rejected steps', () => {
    // a fast, strongly varying field: the initial step guess is too long at least once
    const m = randomMlp(PAPER_SPEC, 19, 4)
    const f = new WasmField(new Core('simd'), m)
    const start = points(64, 2, 29, 3)
    const { stats } = integrate(f, start, { kind: 'dopri5', rtol: 1e-6, atol: 1e-6 })
    expect(stats.rejected).toBeGreaterThan(0)
    expect(stats.evaluations).toBe(2 + 6 * (stats.steps + stats.rejected))
  })

  it('dopri5 throws past maxSteps', () => {
    const f = new WasmField(new Core('simd'), rotation)
    expect(() => integrate(f, x0, { kind: 'dopri5', rtol: 1e-7, atol: 1e-7, maxSteps: 3 })).toThrow(
      /dopri5 exceeded maxSteps = 3 attempted steps/,
    )
  })

  it('dopri5 skips a non-finite point in the error norm', () => {
    const f = new WasmField(new Core('simd'), randomMlp(PAPER_SPEC, 31))
    const clean = points(9, 2, 37, 2)
    const dirty = new Float32Array(20)
    dirty.set(clean.subarray(0, 8))
    dirty.set([NaN, 0.5], 8) // point 4 starts at NaN
    dirty.set(clean.subarray(8), 10)
    const solver: Solver = { kind: 'dopri5', rtol: 1e-5, atol: 1e-5 }
    const a = integrate(f, clean, solver)
    const b = integrate(f, dirty, solver)
    expect(b.stats).toEqual(a.stats)
    expect(Array.from(b.x.subarray(0, 8))).toEqual(Array.from(a.x.subarray(0, 8)))
    expect(Array.from(b.x.subarray(10))).toEqual(Array.from(a.x.subarray(8)))
    expect(b.x[8]).toBeNaN()
  })

  it('integratePtr works in place on SoA state', () => {
    const c = new Core('simd')
    const f = new WasmField(c, rotation)
    const n = x0.length / 2
    const want = integrate(f, x0, { kind: 'rk4', steps: 8 }).x
    c.scoped(() => {
      const p = c.allocF32(2 * n)
      const s = c.f32(p, 2 * n)
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) s[j * n + i] = x0[2 * i + j]
      const stats = integratePtr(f, p, n, { kind: 'rk4', steps: 8 })
      expect(stats.evaluations).toBe(32)
      const got = c.f32(p, 2 * n)
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) expect(got[j * n + i]).toBe(want[2 * i + j])
    })
  })
})
