import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { ACTIVATIONS, type MlpSpec, PAPER_SPEC, layerOffsets, mlp, parameterCount } from '../shared/model/spec.ts'
import { type LoglikSolver, energyGrad, logLikelihood, meanLogLik } from '../shared/train/loglik.ts'
import { logLikelihoodRef } from './reference/loglik.ts'
import { uniform as seeded } from './util.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Parameters U(±scale/√fan_in): the field is O(1) and its activations bend. */
const randomParams = (spec: MlpSpec, r: () => number, scale = 1.5): Float32Array => {
  const p = new Float32Array(parameterCount(spec))
  for (const L of layerOffsets(spec))
    for (let k = L.w; k < L.b + L.out; k++) p[k] = ((2 * r() - 1) * scale) / Math.sqrt(L.in)
  return p
}

/** n points U(−a, a)^d, row-major. */
const randomPoints = (n: number, d: number, r: () => number, a = 3): Float32Array =>
  Float32Array.from({ length: n * d }, () => (2 * r() - 1) * a)

const sum = (a: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]
  return s
}

/** ‖a − b‖₂ / ‖b‖₂. */
const relNormError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let num = 0
  let den = 0
  for (let k = 0; k < b.length; k++) {
    num += (a[k] - b[k]) ** 2
    den += b[k] ** 2
  }
  return Math.sqrt(num / den)
}

/** max_k |a_k − b_k| / |b_k|. */
const maxRelError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let e = 0
  for (let k = 0; k < b.length; k++) e = Math.max(e, Math.abs(a[k] - b[k]) / Math.abs(b[k]))
  return e
}

/**
 * The first `count` points of `x` whose every pre-activation, at every stage of the reference
 * solver, is at least 1e-3 away from 0: there a ReLU net is smooth under the FD steps, which move
 * a pre-activation by ~1e-5·‖h‖ ≪ 1e-3.
 */
const awayFromKinks = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  x: Float32Array,
  solver: LoglikSolver,
  steps: number,
  count: number,
): Float32Array => {
  const d = spec.dim
  const keep: number[] = []
  for (let p = 0; p < x.length / d && keep.length < count * d; p++) {
    const pt = x.subarray(p * d, (p + 1) * d)
    if (logLikelihoodRef(spec, params, pt, solver, steps).minAbsZ > 1e-3) keep.push(...pt)
  }
  if (keep.length < count * d) throw new Error(`only ${keep.length / d} of ${count} points away from the kinks`)
  return Float32Array.from(keep)
}

/** Energy Σ −log p of the f64 reference. */
const energyRef = (
  spec: MlpSpec,
  params: ArrayLike<number>,
  x: ArrayLike<number>,
  solver: LoglikSolver,
  steps: number,
): number => -sum(logLikelihoodRef(spec, params, x, solver, steps).logp)

/** Central differences of the f64 reference energy, step ε = 1e-5 (truncation ~ε² ≈ 1e-10 relative). */
const fdGradient = (spec: MlpSpec, params: Float32Array, x: Float32Array, solver: LoglikSolver, steps: number) => {
  const eps = 1e-5
  const p = Float64Array.from(params)
  return Float64Array.from(p, (v, k) => {
    p[k] = v + eps
    const a = energyRef(spec, p, x, solver, steps)
    p[k] = v - eps
    const b = energyRef(spec, p, x, solver, steps)
    p[k] = v
    return (a - b) / (2 * eps)
  })
}

// -------------------------------------------------------------------------------------
// linear fields: closed forms
// -------------------------------------------------------------------------------------

type M2 = [[number, number], [number, number]]

/** A = [[a, c], [0, e]] (a ≠ e), upper triangular so that f(A) has a closed form. */
const A: M2 = [
  [0.4, 0.7],
  [0, -0.3],
]
const traceA = A[0][0] + A[1][1]

/** f(M) of an upper-triangular 2×2 M: [[f(a), c·(f(e) − f(a))/(e − a)], [0, f(e)]]. */
const triangularFn = (m: M2, f: (x: number) => number): M2 => {
  const [a, c, e] = [m[0][0], m[0][1], m[1][1]]
  return [
    [f(a), (c * (f(e) - f(a))) / (e - a)],
    [0, f(e)],
  ]
}

const mul = (p: M2, q: M2): M2 => [
  [p[0][0] * q[0][0] + p[0][1] * q[1][0], p[0][0] * q[0][1] + p[0][1] * q[1][1]],
  [p[1][0] * q[0][0] + p[1][1] * q[1][0], p[1][0] * q[0][1] + p[1][1] * q[1][1]],
]
const apply = (m: M2, v: readonly number[]): number[] => [
  m[0][0] * v[0] + m[0][1] * v[1],
  m[1][0] * v[0] + m[1][1] * v[1],
]
const logNormal = (z: readonly number[]): number => -0.5 * (z[0] ** 2 + z[1] ** 2) - Math.log(2 * Math.PI)

/**
 * An MLP of the family whose field is exactly v(t, y) = A·y + b: hidden [4, 4] ReLU with
 * W_1 = [I; −I] on y (time weights 0), W_2 = I and b_2 = c·1 (c ≥ 0), W_3 = [A, −A], since
 * relu(y) − relu(−y) = y, relu is the identity on the non-negative h_1 + c, and [A, −A]·c·1 = 0.
 * c > 0 keeps layer 2's pre-activations away from the kink at 0.
 */
const linearFieldMlp = (b: readonly number[], c = 0) => {
  const spec: MlpSpec = { dim: 2, hidden: [4, 4], activation: 'relu', frequencies: 1 }
  const [l1, l2, l3] = layerOffsets(spec)
  const p = new Float32Array(parameterCount(spec))
  const base = 1 + 2 * spec.frequencies
  for (let j = 0; j < 2; j++) {
    p[l1.w + j * l1.in + base + j] = 1
    p[l1.w + (2 + j) * l1.in + base + j] = -1
  }
  for (let o = 0; o < 4; o++) {
    p[l2.w + o * l2.in + o] = 1
    p[l2.b + o] = c
  }
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 2; j++) {
      p[l3.w + i * l3.in + j] = A[i][j]
      p[l3.w + i * l3.in + 2 + j] = -A[i][j]
    }
  p[l3.b] = b[0]
  p[l3.b + 1] = b[1]
  return mlp(spec, p)
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

const simd = new Core('simd')
const SOLVERS: readonly LoglikSolver[] = ['euler', 'midpoint', 'rk4']

describe('loglik: linear field with a closed-form density', () => {
  // 37 points: two full blocks of 16 and a padded tail of 5
  const x = randomPoints(37, 2, seeded(11))

  it('RK4 log p is the Gaussian density N(φ₁(A)b, e^A e^Aᵀ) to the solver accuracy', () => {
    // z(1) = e^A z(0) + φ₁(A)·b with φ₁(λ) = (e^λ − 1)/λ, so z(0) = e^−A (x − φ₁(A)b) and
    // log p(x) = log N(z(0); 0, I) − tr A.
    const b = [0.5, -0.8]
    const expMinusA = triangularFn(A, (q) => Math.exp(-q))
    const mu = apply(
      triangularFn(A, (q) => Math.expm1(q) / q),
      b,
    )
    const want = Array.from({ length: 37 }, (_, p) => {
      const z0 = apply(expMinusA, [x[2 * p] - mu[0], x[2 * p + 1] - mu[1]])
      return logNormal(z0) - traceA
    })
    const got = logLikelihood(simd, linearFieldMlp(b), x, { solver: 'rk4', steps: 32 })
    // RK4's global error with h = 1/32 and ‖A‖ < 1 is ~h⁴‖A‖⁵/120 < 1e-8; what remains is f32
    // rounding of the state (|z| ≤ 5) and of ℓ over 32 steps of 4 stages, measured 5.6e-7
    // relative: bound 5e-6.
    expect(maxRelError(got, want)).toBeLessThan(5e-6)
  })

  it.each(SOLVERS)('%s reproduces its own discrete map exactly', (solver) => {
    // With b = 0 each step multiplies y by R(hA), R the method's stability polynomial
    // (1 + q, 1 + q + q²/2, or the degree-4 Taylor polynomial of e^q) and h = −1/steps, while
    // ℓ gains h·tr A per step: log p = log N(R(hA)^steps x) − tr A. 5 steps, far from the flow.
    const steps = 5
    const degree = { euler: 1, midpoint: 2, rk4: 4 }[solver]
    const R = triangularFn(A, (q) => {
      let s = 1
      let term = 1
      for (let k = 1; k <= degree; k++) {
        term *= -q / steps / k
        s += term
      }
      return s
    })
    let Rn: M2 = [
      [1, 0],
      [0, 1],
    ]
    for (let s = 0; s < steps; s++) Rn = mul(R, Rn)
    const want = Array.from({ length: 37 }, (_, p) => logNormal(apply(Rn, [x[2 * p], x[2 * p + 1]])) - traceA)
    const got = logLikelihood(simd, linearFieldMlp([0, 0]), x, { solver, steps })
    // f32 rounding only (measured ≤ 2.1e-7 relative)
    expect(maxRelError(got, want)).toBeLessThan(1e-6)
  })

  it('its energy gradient matches central differences of the f64 reference', () => {
    // the ReLU net is piecewise linear: c = 1 and the choice of points keep every
    // pre-activation away from 0
    const m = linearFieldMlp([0.5, -0.8], 1)
    const xs = awayFromKinks(m.spec, m.params, x, 'rk4', 4, 12)
    const { grad } = energyGrad(simd, m, xs, { solver: 'rk4', steps: 4 })
    expect(relNormError(grad, fdGradient(m.spec, m.params, xs, 'rk4', 4))).toBeLessThan(1e-4)
  })
})

describe('loglik: against the f64 reference', () => {
  const cases = ACTIVATIONS.flatMap((activation) =>
    SOLVERS.map((solver) => ({ activation, solver, dim: activation === 'silu' ? 3 : 2 })),
  )

  it.each(cases)('log p, $activation, $solver, d = $dim', ({ activation, solver, dim }) => {
    const r = seeded(100 + ACTIVATIONS.indexOf(activation) * 7 + SOLVERS.indexOf(solver))
    const spec: MlpSpec = { dim, hidden: [7, 9], activation, frequencies: 2 }
    const params = randomParams(spec, r)
    const x = randomPoints(21, dim, r)
    const got = logLikelihood(simd, mlp(spec, params), x, { solver, steps: 5 })
    const want = logLikelihoodRef(spec, params, x, solver, 5).logp
    // f32 arithmetic through 5 steps of a random field: measured ≤ 2e-7 relative
    expect(maxRelError(got, want)).toBeLessThan(1e-5)
  })

  const gradCases = [
    ...ACTIVATIONS.map((activation) => ({ activation, solver: 'rk4' as LoglikSolver })),
    { activation: 'elu' as const, solver: 'euler' as LoglikSolver },
    { activation: 'tanh' as const, solver: 'midpoint' as LoglikSolver },
  ]

  it.each(gradCases)('energy gradient, $activation, $solver, vs central differences', ({ activation, solver }) => {
    const r = seeded(300 + ACTIVATIONS.indexOf(activation) + 10 * SOLVERS.indexOf(solver))
    // odd widths exercise the kernels' row tails; 5 or 10 points a padded block
    const spec: MlpSpec = { dim: 2, hidden: [6, 5], activation, frequencies: 1 }
    const params = randomParams(spec, r)
    const candidates = randomPoints(20, 2, r)
    const x = activation === 'relu' ? awayFromKinks(spec, params, candidates, solver, 3, 5) : candidates.subarray(0, 10)
    const scale = 2.5
    const { energy, grad } = energyGrad(simd, mlp(spec, params), x, { solver, steps: 3 }, scale)
    const fd = fdGradient(spec, params, x, solver, 3).map((g) => g * scale)
    expect(energy / (scale * energyRef(spec, params, x, solver, 3))).toBeCloseTo(1, 6)
    // f32 forward and backward passes: measured ≤ 1.9e-7
    expect(relNormError(grad, fd)).toBeLessThan(1e-4)
  })

  it('energy gradient of the paper model along a random direction vs central differences', () => {
    const r = seeded(77)
    const params = randomParams(PAPER_SPEC, r, 1)
    const x = randomPoints(20, 2, r, 5)
    const u = Float64Array.from(params, () => 2 * r() - 1)
    const { grad } = energyGrad(simd, mlp(PAPER_SPEC, params), x, { solver: 'rk4', steps: 2 })
    const eps = 1e-5
    const at = (s: number) =>
      energyRef(
        PAPER_SPEC,
        Float64Array.from(params, (v, k) => v + s * u[k]),
        x,
        'rk4',
        2,
      )
    const fd = (at(eps) - at(-eps)) / (2 * eps)
    const directional = sum(Float64Array.from(grad, (g, k) => g * u[k]))
    expect(Math.abs(directional - fd) / Math.abs(fd)).toBeLessThan(1e-4)
  })
})

interface TorchCase {
  readonly name: string
  readonly spec: MlpSpec
  readonly solver: LoglikSolver
  readonly steps: number
  readonly params: number[]
  readonly x: number[]
  readonly logp: number[]
  readonly grad: number[]
}

describe('loglik: against PyTorch autograd (fixtures/loglik/make_fixture.py, float64)', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/loglik/torch_loglik.json', import.meta.url), 'utf8')) as {
    cases: TorchCase[]
  }

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: log p and the gradient of Σ −log p', (_, c) => {
    const model = mlp(c.spec, c.params)
    const x = Float32Array.from(c.x)
    const opts = { solver: c.solver, steps: c.steps }
    // f32 kernels against f64 autograd: measured ≤ 2.1e-7 (log p) and ≤ 2.3e-7 (gradient)
    expect(maxRelError(logLikelihood(simd, model, x, opts), c.logp)).toBeLessThan(1e-5)
    const { energy, grad } = energyGrad(simd, model, x, opts)
    expect(energy / -sum(c.logp)).toBeCloseTo(1, 6)
    expect(relNormError(grad, c.grad)).toBeLessThan(1e-4)
  })
})

describe('loglik: batches and reproducibility', () => {
  const spec: MlpSpec = { dim: 2, hidden: [8, 8], activation: 'elu', frequencies: 2 }
  const r = seeded(5)
  const model = mlp(spec, randomParams(spec, r))
  const x = randomPoints(40, 2, r)

  it('a point’s log p does not depend on the batch around it', () => {
    const all = logLikelihood(simd, model, x)
    const some = logLikelihood(simd, model, x.subarray(2 * 19, 2 * 26))
    expect(Array.from(some)).toEqual(Array.from(all.subarray(19, 26)))
  })

  it('the energy kernel returns the same bits on every call, its energy the sum of −log p', () => {
    const a = energyGrad(simd, model, x, { solver: 'midpoint', steps: 4 }, 3)
    const b = energyGrad(simd, model, x, { solver: 'midpoint', steps: 4 }, 3)
    expect(b.energy).toBe(a.energy)
    expect(Array.from(b.grad)).toEqual(Array.from(a.grad))
    const logp = logLikelihood(simd, model, x, { solver: 'midpoint', steps: 4 })
    expect(a.energy).toBeCloseTo(-3 * sum(logp), 9)
  })

  it('meanLogLik gives the mean and standard error of log p', () => {
    const logp = logLikelihood(simd, model, x)
    const mean = sum(logp) / logp.length
    const sd = Math.sqrt(sum(logp.map((v) => (v - mean) ** 2)) / (logp.length - 1))
    const got = meanLogLik(simd, model, x)
    expect(got.n).toBe(40)
    expect(got.mean).toBeCloseTo(mean, 12)
    expect(got.stderr).toBeCloseTo(sd / Math.sqrt(40), 12)
  })

  it('rejects bad options and data with messages that name the problem', () => {
    expect(() => logLikelihood(simd, model, x, { solver: 'rk4', steps: 0 })).toThrow(/steps must be an integer/)
    expect(() => logLikelihood(simd, model, x, { solver: 'heun' as LoglikSolver, steps: 4 })).toThrow(
      /solver must be one of euler, midpoint, rk4, got 'heun'/,
    )
    expect(() => energyGrad(simd, model, x.subarray(0, 5))).toThrow(/5 values, expected a positive multiple of d = 2/)
    expect(() => energyGrad(simd, model, x, undefined, Number.NaN)).toThrow(/scale must be finite/)
    // 800000 RK4 stages of 7.1 KiB each (hidden [8, 8], 16-point blocks) would need 5.4 GiB
    expect(() => energyGrad(simd, model, x, { solver: 'rk4', steps: 200_000 })).toThrow(
      /200000 rk4 steps needs \d+ MiB of stage caches, more than the 1024 MiB allowed/,
    )
  })
})

describe.runIf(relaxedSimdSupported())('loglik on the relaxed-SIMD core', () => {
  it('energy gradient vs central differences of the f64 reference', () => {
    const r = seeded(901)
    const spec: MlpSpec = { dim: 2, hidden: [6, 5], activation: 'silu', frequencies: 1 }
    const params = randomParams(spec, r)
    const x = randomPoints(5, 2, r)
    const { grad } = energyGrad(new Core('relaxed'), mlp(spec, params), x, { solver: 'rk4', steps: 3 })
    // fused multiply-add rounds differently, not worse: same bound as the SIMD core
    expect(relNormError(grad, fdGradient(spec, params, x, 'rk4', 3))).toBeLessThan(1e-4)
  })
})
