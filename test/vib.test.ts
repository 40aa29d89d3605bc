import { describe, expect, it } from 'vitest'
import { Core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { ACTIVATIONS, type MlpSpec, PAPER_SPEC, layerOffsets, mlp, parameterCount } from '../shared/model/spec.ts'
import { fromSoa } from '../shared/train/backprop.ts'
import {
  type StopCriterion,
  VIB_STREAMS,
  klCoefficients,
  klConverged,
  noiseRows,
  softplus,
  trainVib,
  vibForward,
  vibKl,
  vibLossGrad,
  vibNoise,
  flipoutForward,
  flipoutLossGrad,
  flipoutSigns,
  signRows,
} from '../shared/train/vib.ts'
import { philox } from './reference/rng.ts'
import { flipoutLossRef, flipoutPointRef, vibLossRef, vibPointRef } from './reference/vib.ts'
import { uniform as seeded, normal, randomParams, relMaxError } from './util.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const mean = (a: ArrayLike<number>): number => {
  let s = 0
  for (let k = 0; k < a.length; k++) s += a[k]
  return s / a.length
}

/** KL(N(μ, σ²) ‖ N(0, s²)) by composite Simpson integration of q·ln(q/p) over μ ± 14σ (4000 intervals). */
const klNumeric = (m: number, sigma: number, s: number): number => {
  const logq = (x: number) => -0.5 * ((x - m) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI)
  const logp = (x: number) => -0.5 * (x / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI)
  const f = (x: number) => Math.exp(logq(x)) * (logq(x) - logp(x))
  const a = m - 14 * sigma
  const b = m + 14 * sigma
  const M = 4000
  const h = (b - a) / M
  let sum = f(a) + f(b)
  for (let i = 1; i < M; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h)
  return (sum * h) / 3
}

/**
 * The kernel's gradients in μ and ρ against central differences of an f64 loss at (μ, ρ), within
 * the issue's bound (relative error ≤ 1e-4). h = 1e-6: truncation ~h²·|f'''| ≈ 1e-12, rounding
 * ~1e-16·|f|/h ≈ 1e-9, both far below it.
 */
const expectDifferences = (
  got: { gradMu: ArrayLike<number>; gradRho: ArrayLike<number> },
  loss: (mu: ArrayLike<number>, rho: ArrayLike<number>) => number,
  mu0: ArrayLike<number>,
  rho0: ArrayLike<number>,
): void => {
  const mu = Float64Array.from(mu0)
  const rho = Float64Array.from(rho0)
  const h = 1e-6
  const fd = (w: Float64Array): Float64Array =>
    Float64Array.from(w, (keep, k) => {
      w[k] = keep + h
      const up = loss(mu, rho)
      w[k] = keep - h
      const down = loss(mu, rho)
      w[k] = keep
      return (up - down) / (2 * h)
    })
  expect(relMaxError(got.gradMu, fd(mu))).toBeLessThan(1e-4)
  expect(relMaxError(got.gradRho, fd(rho))).toBeLessThan(1e-4)
}

const SPEC_A = (activation: MlpSpec['activation']): MlpSpec => ({ dim: 2, hidden: [5, 7], activation, frequencies: 2 })
const SPEC_B: MlpSpec = { dim: 3, hidden: [6, 3, 9], activation: 'tanh', frequencies: 0 }

describe('vib', () => {
  const core = new Core('simd')

  // -------------------------------------------------------------------------------------
  // loss and gradient
  // -------------------------------------------------------------------------------------

  /** A batch with fixed noise and (μ, ρ) where σ is large enough for the ρ-gradient to matter. */
  const problem = (spec: MlpSpec, n: number, seed: number) => {
    const r = seeded(seed)
    const mu = randomParams(spec, r)
    const rho = Float32Array.from({ length: mu.length }, () => -2 + 2 * r()) // σ ∈ [0.13, 0.69]
    const R = noiseRows(spec)
    return {
      mu,
      rho,
      t: Float32Array.from({ length: n }, () => r()),
      xt: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
      u: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
      eps: Float32Array.from({ length: n * R }, () => normal(r)),
    }
  }

  const checkAgainstDifferences = (c: Core, spec: MlpSpec, n: number, seed: number): void => {
    const b = problem(spec, n, seed)
    const got = vibLossGrad(c, mlp(spec, b.mu), b.rho, b.t, b.xt, b.u, b.eps)
    const ref = vibLossRef(spec, b.mu, b.rho, b.t, b.xt, b.u, b.eps)
    // f32 forward against f64: a few ulp per layer, far below 1e-5 relative
    expect(Math.abs(got.loss - ref) / ref).toBeLessThan(1e-5)
    expectDifferences(got, (mu, rho) => vibLossRef(spec, mu, rho, b.t, b.xt, b.u, b.eps), b.mu, b.rho)
  }

  describe('vib_loss_grad', () => {
    for (const activation of ACTIVATIONS)
      it(`gradients in μ and ρ match central differences of the f64 reference (fixed ε): ${activation}`, () => {
        checkAgainstDifferences(core, SPEC_A(activation), 37, 10 + ACTIVATIONS.indexOf(activation))
      })

    it('matches central differences over several blocks and an odd layout (n = 70, 3 hidden layers)', () => {
      checkAgainstDifferences(core, SPEC_B, 70, 3)
    })

    it.skipIf(!relaxedSimdSupported())('matches central differences on the relaxed-SIMD (fused) core', () => {
      // fused multiply-adds round differently but no worse: the same 1e-4 bound
      checkAgainstDifferences(new Core('relaxed'), SPEC_A('silu'), 37, 99)
    })

    it('samples the same field as vib_forward and as the reference', () => {
      const spec = SPEC_B
      const n = 67
      const b = problem(spec, n, 8)
      const v = vibForward(core, mlp(spec, b.mu), b.rho, b.t, b.xt, b.eps)
      const R = noiseRows(spec)
      const ref: number[] = []
      for (let p = 0; p < n; p++)
        ref.push(
          ...vibPointRef(spec, b.mu, b.rho, b.t[p], b.xt.subarray(3 * p, 3 * p + 3), b.eps.subarray(p * R, (p + 1) * R)),
        )
      // f32 against f64 over four layers: 1e-5 relative to the scale
      expect(relMaxError(v, ref)).toBeLessThan(1e-5)
    })

    it('with ρ → −∞ reduces to the deterministic CFM loss of μ', () => {
      const spec = SPEC_A('elu')
      const b = problem(spec, 20, 4)
      const rho = new Float32Array(b.mu.length).fill(-60) // σ = e^−60 ≈ 1e−26: σ·ε vanishes in f32
      const got = vibLossGrad(core, mlp(spec, b.mu), rho, b.t, b.xt, b.u, b.eps)
      const zero = new Float32Array(b.eps.length)
      const det = vibLossRef(spec, b.mu, rho, b.t, b.xt, b.u, zero)
      expect(Math.abs(got.loss - det) / det).toBeLessThan(1e-5)
      expect(got.gradRho.every(Number.isFinite)).toBe(true)
    })
  })

  // -------------------------------------------------------------------------------------
  // local reparameterization
  // -------------------------------------------------------------------------------------

  it('local reparameterization: per point, pre-activation mean μW·a + μb, variance σW²·a² + σb²', () => {
    // one hidden layer of 2 ReLU units whose pre-activations sit near 50 (never negative: ReLU is
    // the identity), and an output layer v = h − 50 with σ ≈ 4e−18 (deterministic): v is the
    // first layer's sampled pre-activation minus 50
    const spec: MlpSpec = { dim: 2, hidden: [2], activation: 'relu', frequencies: 0 }
    const [L1, L2] = layerOffsets(spec)
    const mu = new Float32Array(parameterCount(spec))
    const rho = new Float32Array(mu.length).fill(-40)
    const r = seeded(17)
    for (let k = L1.w; k < L1.b; k++) mu[k] = 2 * r() - 1
    mu[L1.b] = 50.25
    mu[L1.b + 1] = 49.5
    for (let k = L1.w; k < L1.b + L1.out; k++) rho[k] = -1 + r() // σ ∈ [0.31, 0.69]
    mu[L2.w] = 1
    mu[L2.w + 3] = 1 // identity 2 × 2
    mu[L2.b] = -50
    mu[L2.b + 1] = -50
    const M = 20000
    const a = [0.3, 1.2, -0.8] // features: t, x1, x2
    const t = new Float32Array(M).fill(a[0])
    const x = Float32Array.from({ length: 2 * M }, (_, k) => a[1 + (k % 2)])
    const R = noiseRows(spec)
    const soa = vibNoise(core, 5, VIB_STREAMS.noise, 0, M, R)
    const eps = Float32Array.from({ length: M * R }, (_, k) => soa[(k % R) * M + Math.floor(k / R)])
    const v = vibForward(core, mlp(spec, mu), rho, t, x, eps)
    const m = [0, 1].map((o) => mu[L1.b + o] - 50 + a.reduce((s, ai, i) => s + mu[L1.w + 3 * o + i] * ai, 0))
    const s2 = [0, 1].map(
      (o) =>
        softplus(rho[L1.b + o]) ** 2 + a.reduce((s, ai, i) => s + softplus(rho[L1.w + 3 * o + i]) ** 2 * ai * ai, 0),
    )
    const col = (o: number) => Float64Array.from({ length: M }, (_, p) => v[2 * p + o])
    for (const o of [0, 1]) {
      const c = col(o)
      const cm = mean(c)
      const cv = mean(c.map((q) => (q - cm) ** 2))
      // 5 standard errors: mean ± 5·s/√M, variance ± 5·s²·√(2/M) (plus f32 rounding of z ≈ 50: 4e−6)
      expect(Math.abs(cm - m[o])).toBeLessThan(5 * Math.sqrt(s2[o] / M) + 1e-5)
      expect(Math.abs(cv - s2[o])).toBeLessThan(5 * s2[o] * Math.sqrt(2 / M))
    }
    // each point its own draw: the two neurons' and consecutive points' noises are uncorrelated
    const c0 = col(0).map((q) => (q - m[0]) / Math.sqrt(s2[0]))
    const c1 = col(1).map((q) => (q - m[1]) / Math.sqrt(s2[1]))
    expect(Math.abs(mean(c0.map((q, p) => q * c1[p])))).toBeLessThan(5 / Math.sqrt(M))
    expect(Math.abs(mean(c0.subarray(1).map((q, p) => q * c0[p])))).toBeLessThan(5 / Math.sqrt(M))
  })

  // -------------------------------------------------------------------------------------
  // noise
  // -------------------------------------------------------------------------------------

  describe('vib_noise', () => {
    /** The documented mapping, in f64: Philox block j of point i, 24-bit uniforms, Box–Muller. */
    const noiseRef = (seed: number, stream: number, i: number, row: number): number => {
      const w = philox(seed, stream, [i % 2 ** 32, Math.floor(i / 2 ** 32), row >> 2, 0])
      const U = (q: number) => (Math.floor(w[q] / 256) + 0.5) / 2 ** 24
      const pair = (row & 3) >> 1
      const rad = Math.sqrt(-2 * Math.log(U(2 * pair)))
      const ang = 2 * Math.PI * U(2 * pair + 1)
      return row % 2 === 0 ? rad * Math.cos(ang) : rad * Math.sin(ang)
    }

    it('follows the documented mapping (partial lane groups, rows not a multiple of 4, high counter word)', () => {
      const start = 2 ** 32 - 3
      const n = 7
      const rows = 6
      const z = vibNoise(core, 0xdeadbeef, 77, start, n, rows)
      for (let p = 0; p < n; p++)
        for (let q = 0; q < rows; q++) {
          const ref = noiseRef(0xdeadbeef, 77, start + p, q)
          // f32 polynomials for ln, cos, sin (truncation < 3e−9) and f32 arithmetic: a few ulp
          expect(Math.abs(z[q * n + p] - ref)).toBeLessThan(2e-6 * Math.max(1, Math.abs(ref)))
        }
      // a sub-range is the same draws
      const part = vibNoise(core, 0xdeadbeef, 77, start + 2, 3, rows)
      for (let q = 0; q < rows; q++)
        expect(Array.from(part.subarray(3 * q, 3 * q + 3))).toEqual(Array.from(z.subarray(q * n + 2, q * n + 5)))
    })

    it('draws standard normals (moments over 25 000 × 8)', () => {
      const n = 25000
      const z = vibNoise(core, 1, 2, 0, n, 8)
      const m = mean(z)
      const v = mean(z.map((q) => q * q)) - m * m
      const k4 = mean(z.map((q) => (q - m) ** 4)) / v ** 2
      const N = z.length
      // 5 standard errors: mean 5/√N, variance 5·√(2/N), kurtosis 5·√(96/N)
      expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(N))
      expect(Math.abs(v - 1)).toBeLessThan(5 * Math.sqrt(2 / N))
      expect(Math.abs(k4 - 3)).toBeLessThan(5 * Math.sqrt(96 / N))
      // and P(|z| > 2) = 0.0455
      const tail = mean(z.map((q) => (Math.abs(q) > 2 ? 1 : 0)))
      expect(Math.abs(tail - 0.0455)).toBeLessThan(5 * Math.sqrt((0.0455 * 0.9545) / N))
    })

    it('rejects bad arguments with the argument named', () => {
      expect(() => vibNoise(core, -1, 0, 0, 4, 4)).toThrow(/seed must be an integer/)
      expect(() => vibNoise(core, 1, 0, 2 ** 53, 4, 4)).toThrow(/start must be an integer/)
    })
  })

  // -------------------------------------------------------------------------------------
  // flipout
  // -------------------------------------------------------------------------------------

  describe('flipout', () => {
    /** A batch with fixed weight noise and signs, (μ, ρ) with σ large enough for ρ to matter. */
    const flipProblem = (spec: MlpSpec, n: number, seed: number) => {
      const r = seeded(seed)
      const mu = randomParams(spec, r)
      const P = mu.length
      const S = signRows(spec)
      return {
        mu,
        rho: Float32Array.from({ length: P }, () => -2 + 2 * r()), // σ ∈ [0.13, 0.69]
        eps: Float32Array.from({ length: P }, () => normal(r)),
        t: Float32Array.from({ length: n }, () => r()),
        xt: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
        u: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
        // the kernel draws point p's signs as point start + p of the stream; the reference gets
        // the same signs from the standalone generator (whose mapping the test above pins)
        noise: { seed: seed, stream: VIB_STREAMS.flipoutSigns, start: 1000 * seed },
        signs: fromSoa(flipoutSigns(core, seed, VIB_STREAMS.flipoutSigns, 1000 * seed, n, S), n, S),
      }
    }

    it('signs follow the documented mapping: bit r mod 32 of word ⌊(r mod 128)/32⌋ of block ⌊r/128⌋', () => {
      const start = 2 ** 32 - 2 // crosses into the high counter word
      const n = 7 // a partial group of four points
      const rows = signRows(PAPER_SPEC) // 203: two Philox blocks, the second partly used
      expect(rows).toBe(203)
      const z = flipoutSigns(core, 0xc0ffee, 9, start, n, rows)
      for (let p = 0; p < n; p++) {
        const i = start + p
        for (let q = 0; q < rows; q++) {
          const w = philox(0xc0ffee, 9, [i % 2 ** 32, Math.floor(i / 2 ** 32), q >> 7, 0])
          const bit = (w[(q & 127) >> 5] >>> (q & 31)) & 1
          expect(z[q * n + p]).toBe(bit === 1 ? -1 : 1)
        }
      }
      // balanced: 203 × 5000 signs, mean within 5 standard errors of 0
      const many = flipoutSigns(core, 1, 2, 0, 5000, rows)
      expect(Math.abs(mean(many))).toBeLessThan(5 / Math.sqrt(many.length))
    })

    for (const activation of ACTIVATIONS)
      it(`the field is the deterministic net under each point's flipped weights, and the gradients match central differences: ${activation}`, () => {
        const spec = SPEC_A(activation)
        const n = 37
        const b = flipProblem(spec, n, 40 + ACTIVATIONS.indexOf(activation))
        const S = signRows(spec)
        const v = flipoutForward(core, mlp(spec, b.mu), b.rho, b.eps, b.t, b.xt, b.noise)
        for (let p = 0; p < n; p++) {
          const x = Array.from(b.xt.subarray(2 * p, 2 * p + 2))
          const ref = flipoutPointRef(spec, b.mu, b.rho, b.eps, b.t[p], x, b.signs.subarray(p * S, (p + 1) * S))
          // f32 against f64 through three layers: a few ulp of the largest pre-activations
          for (let j = 0; j < 2; j++) expect(Math.abs(v[2 * p + j] - ref[j])).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref[j])))
        }
        const got = flipoutLossGrad(core, mlp(spec, b.mu), b.rho, b.eps, b.t, b.xt, b.u, b.noise)
        const loss = (mu: ArrayLike<number>, rho: ArrayLike<number>) => flipoutLossRef(spec, mu, rho, b.eps, b.t, b.xt, b.u, b.signs)
        expect(Math.abs(got.loss - loss(b.mu, b.rho)) / loss(b.mu, b.rho)).toBeLessThan(1e-5)
        expectDifferences(got, loss, b.mu, b.rho)
      })

    it('every point sees a draw from q: over many batches a weight\'s flipped perturbation has mean 0 and variance σ²', () => {
      // one weight of a 1-hidden-unit net is enough to read the perturbation off the field: with
      // μ = 0 everywhere except this weight's path, v's first coordinate is linear in the weight
      const spec: MlpSpec = { dim: 1, hidden: [1], activation: 'relu', frequencies: 0 }
      const [L0, L1] = layerOffsets(spec)
      const mu = new Float32Array(parameterCount(spec))
      const rho = new Float32Array(mu.length).fill(-30) // σ ≈ 1e-13: every other weight fixed
      rho[L0.w + 1] = Math.fround(Math.log(Math.expm1(0.5))) // σ = 0.5 on W0[0][x]
      mu[L1.w] = 1 // v = relu(W0[0][x]·x) with x = 1 > 0 and the weight positive or not
      const sigma = softplus(rho[L0.w + 1])
      const r = seeded(77)
      const draws: number[] = []
      for (let k = 0; k < 4000; k++) {
        const eps = Float32Array.from({ length: mu.length }, () => normal(r))
        // v = max(w, 0) at x = 1, t = 0 (the same w at x = −1 gives max(−w, 0)); point k of the
        // stream's signs, so every draw has its own
        const at = (x: number) => flipoutForward(core, mlp(spec, mu), rho, eps, [0], [x], { seed: 3, stream: 4, start: k })[0]
        draws.push(at(1) - at(-1)) // max(w, 0) − max(−w, 0) = w
      }
      const m = mean(draws)
      const v = mean(draws.map((q) => q * q)) - m * m
      // 5 standard errors of a N(0, σ²) sample of 4000
      expect(Math.abs(m)).toBeLessThan((5 * sigma) / Math.sqrt(4000))
      expect(Math.abs(v - sigma * sigma)).toBeLessThan(5 * sigma * sigma * Math.sqrt(2 / 4000))
    })
  })

  // -------------------------------------------------------------------------------------
  // KL
  // -------------------------------------------------------------------------------------

  describe('vib_kl', () => {
    it('equals numerical integration of q·ln(q/p) for one weight, and its gradient the differences', () => {
      for (const [m, rho, s] of [
        [0.5, -3, 1],
        [-1.25, 0.5, 1],
        [2, -1, 0.5],
        [0, 2, 3],
      ]) {
        const sigma = softplus(Math.fround(rho))
        const { raw, weighted, gradMu, gradRho } = vibKl(core, [m], [rho], [0.25], s)
        // Simpson on 4000 intervals over ±14σ: error far below 1e-8 here
        expect(Math.abs(raw - klNumeric(m, sigma, s))).toBeLessThan(1e-7 * Math.max(1, Math.abs(raw)))
        expect(weighted).toBeCloseTo(0.25 * raw, 12)
        // gradients (f32) against central differences of the integral, h = 1e-4 (error ~h² ≈ 1e-8)
        const h = 1e-4
        const dMu = (klNumeric(m + h, sigma, s) - klNumeric(m - h, sigma, s)) / (2 * h)
        const dRho = (klNumeric(m, softplus(rho + h), s) - klNumeric(m, softplus(rho - h), s)) / (2 * h)
        expect(Math.abs(gradMu[0] - 0.25 * dMu)).toBeLessThan(1e-6 * Math.max(1, Math.abs(dMu)))
        expect(Math.abs(gradRho[0] - 0.25 * dRho)).toBeLessThan(1e-6 * Math.max(1, Math.abs(dRho)))
      }
    })

    it('forms softplus, its sigmoid, the KL and its gradient to f64 accuracy for ρ from −700 to 60 (odd and even counts)', () => {
      // the closed forms in f64 through Math (V8's fdlibm): σ = max(ρ, 0) + log1p(e^−|ρ|),
      // KL = ln(s/σ) + (σ² + μ²)/(2s²) − ½, dKL/dμ = μ/s², dKL/dρ = (σ/s² − 1/σ)·sigmoid(ρ)
      const rhos = [-700, -300, -40, -20, -8, -3, -1, -1e-3, 0, 1e-3, 0.7, 2, 10, 25, 60].map(Math.fround)
      for (const n of [rhos.length, rhos.length - 1]) {
        const rho = Float32Array.from(rhos.slice(0, n))
        const mu = Float32Array.from(rho, (_, k) => Math.fround(0.3 * (k - 7)))
        const coef = new Float32Array(n).fill(1)
        const s = 0.8
        const sp = (r: number) => Math.max(r, 0) + Math.log1p(Math.exp(-Math.abs(r)))
        const sig = (r: number) => (r >= 0 ? 1 / (1 + Math.exp(-r)) : Math.exp(r) / (1 + Math.exp(r)))
        const kl = (m: number, r: number) => Math.log(s / sp(r)) + (sp(r) ** 2 + m * m) / (2 * s * s) - 0.5
        // an f32 result of an f64 value computed to a few ulp: the rounded value, or 1 f32 ulp from it
        // (at least the smallest subnormal, where σ² and the like underflow)
        const close32 = (got: number, want: number) =>
          expect(Math.abs(got - Math.fround(want))).toBeLessThanOrEqual(Math.max(2 ** -23 * Math.abs(want), 2 ** -149))
        const got = vibKl(core, mu, rho, coef, s)
        let raw = 0
        for (let k = 0; k < n; k++) raw += kl(mu[k], rho[k])
        // every term to a few f64 ulp of its size; the terms reach 700, the sum ~1e3: 1e-12 relative
        expect(Math.abs(got.raw - raw)).toBeLessThan(1e-12 * Math.abs(raw))
        expect(got.weighted).toBe(got.raw) // c_k = 1
        for (let k = 0; k < n; k++) {
          const r = rho[k]
          close32(got.gradMu[k], mu[k] / (s * s))
          close32(got.gradRho[k], (sp(r) / (s * s) - 1 / sp(r)) * sig(r))
        }
        // vib_prepare: σ² and σ·sigmoid(ρ), f32
        const prepared = core.scoped(() => {
          const vr = core.allocF32(n)
          const chain = core.allocF32(n)
          core.fn<(r: number, e: number, P: number, v: number, c: number) => void>('vib_prepare')(core.putF32(rho), 0, n, vr, chain)
          return { vr: core.f32(vr, n).slice(), chain: core.f32(chain, n).slice() }
        })
        for (let k = 0; k < n; k++) {
          close32(prepared.vr[k], sp(rho[k]) ** 2)
          close32(prepared.chain[k], sp(rho[k]) * sig(rho[k]))
        }
      }
    })

    it("'elbo' weighs Σ KL by k/N, 'paper' the per-tensor mean KL summed over tensors by k/B", () => {
      const spec = PAPER_SPEC
      const P = parameterCount(spec)
      const r = seeded(21)
      const mu = Float32Array.from({ length: P }, () => normal(r))
      const rho = Float32Array.from({ length: P }, () => -4 + 3 * r())
      const klOf = (q: number) => -Math.log(softplus(rho[q])) + (softplus(rho[q]) ** 2 + mu[q] ** 2) / 2 - 0.5
      const total = Array.from({ length: P }, (_, q) => klOf(q)).reduce((a, b) => a + b, 0)
      const k = 5
      const N = 10000
      const B = 1000
      const elbo = vibKl(core, mu, rho, klCoefficients(spec, 'elbo', k, N, B))
      expect(Math.abs(elbo.raw - total) / total).toBeLessThan(1e-9)
      expect(Math.abs(elbo.weighted - (k / N) * total) / elbo.weighted).toBeLessThan(1e-6) // f32 coefficient
      let tensors = 0
      let perTensorMeans = 0
      for (const L of layerOffsets(spec))
        for (const [from, size] of [
          [L.w, L.in * L.out],
          [L.b, L.out],
        ]) {
          let s = 0
          for (let q = from; q < from + size; q++) s += klOf(q)
          perTensorMeans += s / size
          tensors += 1
        }
      expect(tensors).toBe(8)
      const paper = vibKl(core, mu, rho, klCoefficients(spec, 'paper', k, N, B))
      expect(Math.abs(paper.weighted - (k / B) * perTensorMeans) / paper.weighted).toBeLessThan(1e-6)
      // with the same KL κ for every weight the two weights are k·P·κ/N and k·8·κ/B
      const coef = klCoefficients(spec, 'paper', k, N, B)
      const flat = vibKl(core, new Float32Array(P), new Float32Array(P).fill(-3), coef)
      const kappa = flat.raw / P
      expect(Math.abs(flat.weighted - (k * 8 * kappa) / B) / flat.weighted).toBeLessThan(1e-6)
    })
  })

  // -------------------------------------------------------------------------------------
  // stopping
  // -------------------------------------------------------------------------------------

  describe('klConverged', () => {
    // KL falls by 1 per epoch to 50 at epoch 50, then stays: with W = 10 the windows first agree
    // to 0.1 % when both lie in the flat part, c − 2W ≥ 50, i.e. c = 70 (epoch 69); at c = 69 the
    // older window still holds kl[49] = 51: means 50.1 and 50, a relative change of 2e−3
    const kl = Array.from({ length: 200 }, (_, e) => Math.max(50, 100 - e))
    const firstStop = (stop: StopCriterion): number => {
      for (let c = 1; c <= kl.length; c++) if (klConverged(kl.slice(0, c), stop)) return c - 1
      return -1
    }

    it('stops at the first epoch whose two last windows agree within tol', () => {
      expect(firstStop({ window: 10, tol: 1e-3, minEpochs: 0 })).toBe(69)
      // tol 3e−3 accepts c = 69 (2e−3) but not c = 68 (means 50.3 and 50: 6e−3)
      expect(firstStop({ window: 10, tol: 3e-3, minEpochs: 0 })).toBe(68)
      expect(firstStop({ window: 10, tol: 1e-3, minEpochs: 120 })).toBe(119)
    })

    it('never stops on a non-finite window or before 2 windows', () => {
      expect(klConverged([1, 1, 1], { window: 2, tol: 1, minEpochs: 0 })).toBe(false)
      expect(klConverged([1, Number.NaN, 1, 1], { window: 2, tol: 1, minEpochs: 0 })).toBe(false)
      expect(klConverged([1, 1, 1, 1], { window: 2, tol: 0, minEpochs: 0 })).toBe(true)
    })
  })

  // -------------------------------------------------------------------------------------
  // training
  // -------------------------------------------------------------------------------------

  describe('trainVib', () => {
    const spec: MlpSpec = { dim: 2, hidden: [16, 16], activation: 'elu', frequencies: 3 }
    const gaussian = (N: number, seed: number): Float32Array => {
      const r = seeded(seed)
      return Float32Array.from({ length: 2 * N }, (_, k) => (k % 2 === 0 ? 2 + 0.5 * normal(r) : -1 + 0.8 * normal(r)))
    }
    const data = gaussian(2000, 1)
    const base = { spec, data, batchSize: 200, lr: 3e-3, seed: 7, draws: 20, stop: { window: 1000 } } as const

    /** Spread of the posterior: std over draws of v at 40 fixed (t, x), averaged. */
    const fieldSpread = (res: ReturnType<typeof trainVib>): number => {
      const r = seeded(5)
      const n = 40
      const t = Float32Array.from({ length: n }, () => r())
      const x = Float32Array.from({ length: 2 * n }, () => 2 * normal(r))
      const R = noiseRows(spec)
      const zero = new Float32Array(n * R)
      const none = new Float32Array(res.rho.length).fill(-60)
      // each sample's field: the deterministic net, via vibForward with σ ≈ 0
      const vs = res.samples.map((m) => vibForward(core, m, none, t, x, zero))
      let s = 0
      for (let k = 0; k < 2 * n; k++) {
        const col = vs.map((v) => v[k])
        const m = mean(col)
        s += Math.sqrt(mean(col.map((q) => (q - m) ** 2)))
      }
      return s / (2 * n)
    }

    it('lowers the loss, and a larger KL weight k gives a wider posterior', () => {
      const weak = trainVib(core, { ...base, epochs: 25, k: 0.01 })
      const strong = trainVib(core, { ...base, epochs: 25, k: 400 })
      expect(weak.skipped).toBe(0)
      expect(weak.converged).toBe(false)
      expect(weak.stoppedAt).toBe(24)
      // the CFM term starts near ‖u‖² ≈ 7.9 and, as for trainCfm, falls well below half of it
      expect(weak.cfm[24]).toBeLessThan(0.5 * weak.cfm[0])
      expect(weak.losses[24]).toBeLessThan(0.5 * weak.losses[0])
      // the prior pulls σ towards 1: with c = k/N = 0.2 the KL gradient on ρ dominates the data's and
      // Adam raises ρ by ≈ lr per step (250 steps: ρ from −3 to −2.25, σ ≈ 0.1); with c = 5e−6 the
      // data term dominates and σ shrinks below its initial 0.049
      const sigmaOf = (res: typeof weak) => mean(Float64Array.from(res.rho, softplus))
      expect(sigmaOf(strong)).toBeGreaterThan(1.5 * sigmaOf(weak))
      expect(strong.kl[24]).toBeLessThan(strong.kl[0])
      expect(fieldSpread(strong)).toBeGreaterThan(1.5 * fieldSpread(weak))
      // draws scatter around the mean with the learnt σ: Σ(θ − μ)²/σ² over all weights ≈ P per draw
      const P = parameterCount(spec)
      const chi2 = mean(
        weak.samples.map((m) =>
          m.params.reduce((s, q, k) => s + ((q - weak.mean.params[k]) / softplus(weak.rho[k])) ** 2, 0),
        ),
      )
      // mean of 20 χ²_P: sd √(2P/20); 5 sd, plus f32 rounding of θ (relative 6e−8 on |μ|/σ ≲ 100)
      expect(Math.abs(chi2 - P)).toBeLessThan(5 * Math.sqrt((2 * P) / 20) + 0.01 * P)
    })

    it('with flipout, lowers the loss as local reparameterization does, and k widens the posterior', () => {
      const weak = trainVib(core, { ...base, epochs: 25, k: 0.01, estimator: 'flipout' })
      const strong = trainVib(core, { ...base, epochs: 25, k: 400, estimator: 'flipout' })
      const local = trainVib(core, { ...base, epochs: 25, k: 0.01 })
      expect(weak.skipped).toBe(0)
      // the same objective: the CFM term falls below half its start, to within 10 % of where local
      // reparameterization takes it (the two differ only in the noise of their gradient estimates)
      expect(weak.cfm[24]).toBeLessThan(0.5 * weak.cfm[0])
      expect(Math.abs(weak.cfm[24] - local.cfm[24])).toBeLessThan(0.1 * local.cfm[24])
      const sigmaOf = (res: typeof weak) => mean(Float64Array.from(res.rho, softplus))
      expect(sigmaOf(strong)).toBeGreaterThan(1.5 * sigmaOf(weak))
      expect(fieldSpread(strong)).toBeGreaterThan(1.5 * fieldSpread(weak))
      expect(() => trainVib(core, { ...base, epochs: 1, estimator: 'bogus' as 'local' })).toThrow(/estimator must be 'local' or 'flipout', got 'bogus'/)
    })

    it('stops at the earliest epoch after the KL term has converged', () => {
      const res = trainVib(core, { ...base, epochs: 50, stop: { window: 2, tol: 1, minEpochs: 5 } })
      // tol 1 accepts any two finite positive window means: the first allowed epoch is 4 (5 epochs)
      expect(res.converged).toBe(true)
      expect(res.stoppedAt).toBe(4)
      expect(res.kl).toHaveLength(5)
      const never = trainVib(core, { ...base, epochs: 3, draws: 0, stop: { window: 1, tol: 0 } })
      expect(never.converged).toBe(false)
      expect(never.stoppedAt).toBe(2)
      expect(never.samples).toHaveLength(0)
    })

    it('is deterministic: the same seed gives the same posterior, another seed another', () => {
      const o = { ...base, epochs: 2, batchesPerEpoch: 3, draws: 3 }
      const a = trainVib(core, o)
      const b = trainVib(new Core('simd'), o)
      const c = trainVib(core, { ...o, seed: 8 })
      expect(Array.from(b.mean.params)).toEqual(Array.from(a.mean.params))
      expect(Array.from(b.rho)).toEqual(Array.from(a.rho))
      expect(b.samples.map((m) => Array.from(m.params))).toEqual(a.samples.map((m) => Array.from(m.params)))
      expect(Array.from(c.mean.params)).not.toEqual(Array.from(a.mean.params))
      expect(Array.from(a.samples[0].params)).not.toEqual(Array.from(a.samples[1].params))
    })

    it('starts from a given μ with ρ = rhoInit', () => {
      const init = mlp(spec, randomParams(spec, seeded(3), 1))
      const res = trainVib(core, { ...base, epochs: 0, init, rhoInit: -2.5, draws: 1 })
      expect(Array.from(res.mean.params)).toEqual(Array.from(init.params))
      expect(res.rho.every((q) => q === -2.5)).toBe(true)
    })

    it('rejects bad options with the field named', () => {
      expect(() => trainVib(core, { ...base, epochs: 1, k: -1 })).toThrow(/k must be a non-negative number/)
      expect(() => trainVib(core, { ...base, epochs: 1, priorScale: 0 })).toThrow(/priorScale must be a positive/)
      expect(() => trainVib(core, { ...base, epochs: 1, stop: { window: 0 } })).toThrow(/stop.window must be a positive/)
      expect(() => trainVib(core, { ...base, epochs: 1, klNormalization: 'mean' as 'elbo' })).toThrow(/klNormalization/)
      expect(() => trainVib(core, { ...base, epochs: 1, batchSize: 5000 })).toThrow(/fewer than one batch/)
    })
  })
})
