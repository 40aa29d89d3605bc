import { describe, expect, it } from 'vitest'
import { normals, uniforms } from '../shared/core/rng.ts'
import { Core } from '../shared/core/wasm.ts'
import {
  AdamMcmc,
  type AdamMcmcOptions,
  MCMC_STREAMS,
  type ProposalDensity,
  drawProposal,
  paperSigmaDelta,
  proposalLogDensity,
  proposalScales,
  runAdamMcmc,
} from '../shared/train/adam-mcmc.ts'
import { adamStepRef } from './reference/train.ts'
import { uniform as seeded, normal } from './util.ts'

const c = new Core('simd')

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

type Matrix = number[][]

const matmulT = (a: Matrix): Matrix => a.map((ai) => a.map((aj) => ai.reduce((s, x, k) => s + x * aj[k], 0)))

/** Cholesky factor L (lower, L Lᵀ = A) of a symmetric positive-definite matrix, in f64. */
const cholesky = (a: Matrix): Matrix => {
  const n = a.length
  const l: Matrix = a.map(() => new Array<number>(n).fill(0))
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i][j]
      for (let k = 0; k < j; k++) s -= l[i][k] * l[j][k]
      l[i][j] = i === j ? Math.sqrt(s) : s / l[j][j]
    }
  return l
}

/** Inverse of a symmetric positive-definite matrix through its Cholesky factor. */
const spdInverse = (a: Matrix): Matrix => {
  const n = a.length
  const l = cholesky(a)
  // columns of L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹
  const li: Matrix = a.map(() => new Array<number>(n).fill(0))
  for (let col = 0; col < n; col++)
    for (let i = 0; i < n; i++) {
      let s = i === col ? 1 : 0
      for (let k = 0; k < i; k++) s -= l[i][k] * li[k][col]
      li[i][col] = s / l[i][i]
    }
  return a.map((_, i) => a.map((_, j) => li.reduce((s, row) => s + row[i] * row[j], 0)))
}

/** log N(x; mean, Σ) with Σ given densely: Cholesky, one triangular solve, log det = 2 Σ log L_ii. */
const denseLogDensity = (x: ArrayLike<number>, mean: ArrayLike<number>, sigma: Matrix): number => {
  const n = x.length
  const l = cholesky(sigma)
  const z = new Float64Array(n)
  let logDet = 0
  for (let i = 0; i < n; i++) {
    let s = x[i] - mean[i]
    for (let k = 0; k < i; k++) s -= l[i][k] * z[k]
    z[i] = s / l[i][i]
    logDet += 2 * Math.log(l[i][i])
  }
  const quad = z.reduce((s, v) => s + v * v, 0)
  return -0.5 * (quad + logDet + n * Math.log(2 * Math.PI))
}

/** Σ = σ²·I + s·d dᵀ written out. */
const denseSigma = (d: ArrayLike<number>, sigma: number, s: number): Matrix =>
  Array.from({ length: d.length }, (_, i) =>
    Array.from({ length: d.length }, (_, j) => (i === j ? sigma * sigma : 0) + s * d[i] * d[j]),
  )

/** A Gaussian energy E(θ) = ½ (θ − μ)ᵀ P (θ − μ), P = C⁻¹: the target exp(−E) is N(μ, C). */
const gaussianEnergy = (mu: readonly number[], cov: Matrix) => {
  const p = spdInverse(cov)
  const n = mu.length
  return (theta: ArrayLike<number>) => {
    const grad = new Float32Array(n)
    let energy = 0
    for (let i = 0; i < n; i++) {
      let g = 0
      for (let j = 0; j < n; j++) g += p[i][j] * (theta[j] - mu[j])
      grad[i] = g
      energy += 0.5 * (theta[i] - mu[i]) * g
    }
    return { energy, grad }
  }
}

/**
 * Batch-means estimates of E[f(θ)] over a chain: the chain is cut into `batches` consecutive
 * batches; the standard error is the standard deviation of the batch means over √batches. Valid
 * when a batch is much longer than the chain's autocorrelation time (here ≥ 3000 iterations against
 * an integrated autocorrelation time of at most ~60 iterations: n_iter / ESS in these settings).
 */
const batchMeans = (chain: readonly Float32Array[], f: (x: Float32Array) => number, batches = 40) => {
  const size = Math.floor(chain.length / batches)
  const means = Array.from({ length: batches }, (_, b) => {
    let s = 0
    for (let t = b * size; t < (b + 1) * size; t++) s += f(chain[t])
    return s / size
  })
  const mean = means.reduce((a, x) => a + x, 0) / batches
  const variance = means.reduce((a, x) => a + (x - mean) ** 2, 0) / (batches - 1)
  return { mean, se: Math.sqrt(variance / batches) }
}

/**
 * |estimate − truth| / SE for the mean and the covariance (about the true mean) of every
 * coordinate pair: z-scores of 4 + 10 statistics in 4 dimensions.
 */
const zScores = (chain: readonly Float32Array[], mu: readonly number[], cov: Matrix): number[] => {
  const n = mu.length
  const z: number[] = []
  for (let i = 0; i < n; i++) {
    const m = batchMeans(chain, (x) => x[i])
    z.push((m.mean - mu[i]) / m.se)
  }
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const m = batchMeans(chain, (x) => (x[i] - mu[i]) * (x[j] - mu[j]))
      z.push((m.mean - cov[i][j]) / m.se)
    }
  return z
}

// A 4-parameter Gaussian target with a non-diagonal covariance C = A Aᵀ (correlations up to 0.6).
const MU = [1, -2, 0.5, 3]
const COV = matmulT([
  [1, 0, 0, 0],
  [0.6, 0.8, 0, 0],
  [-0.4, 0.3, 0.5, 0],
  [0.2, -0.5, 0.3, 0.7],
])

// Settings where the Adam step is of the order of the noise (lr = 1 against σ = 1/√4 per weight)
// and the rank-one term dominates along the step (√s = 3/√4): the reverse step and the rank-one
// density both matter. Acceptance ≈ 0.3.
const CHAIN: Omit<AdamMcmcOptions, 'energy' | 'seed'> = {
  theta0: Float32Array.from(MU),
  lr: 1,
  sigma: 1,
  sigmaDelta: 3,
}

// -------------------------------------------------------------------------------------
// proposal
// -------------------------------------------------------------------------------------

describe('proposal', () => {
  it('proposalScales normalises sigma and sigmaDelta by 1/√n; the paper setting gives √s ≈ 1', () => {
    const sc = proposalScales(2498, 0.1, paperSigmaDelta(2498))
    expect(sc.sigma).toBeCloseTo(0.1 / Math.sqrt(2498), 15)
    // √s = (2498/50)/√2498 = √2498/50
    expect(Math.sqrt(sc.s)).toBeCloseTo(Math.sqrt(2498) / 50, 14)
    expect(Math.sqrt(sc.s)).toBeCloseTo(1, 3)
    expect(() => proposalScales(4, 0, 1)).toThrow(/sigma must be a positive number/)
    expect(() => proposalScales(4, 1, -1)).toThrow(/sigmaDelta must be a non-negative number/)
  })

  it('Sherman–Morrison log-density equals the dense multivariate normal log-density', () => {
    const r = seeded(11)
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + (trial % 7)
      const mean = Array.from({ length: n }, () => normal(r))
      // d = 0 and s = 0 included: the rank-one term must then vanish
      const d = Array.from({ length: n }, () => (trial % 10 === 3 ? 0 : 2 * normal(r)))
      const sigma = 0.05 + r()
      const s = trial % 10 === 5 ? 0 : 5 * r() ** 2
      // points near the mean, and far out along d (where the rank-one term matters most)
      const x = mean.map((m, i) => m + sigma * normal(r) + (trial % 2) * 3 * Math.sqrt(s) * d[i])
      const got = proposalLogDensity(x, mean, d, { sigma, s })
      const want = denseLogDensity(x, mean, denseSigma(d, sigma, s))
      // both are f64 computations of a value of size ≤ ~10³: agreement to 1e-11 relative is ~10⁴ ulp,
      // room for the Cholesky's rounding at condition numbers up to 1 + s‖d‖²/σ² ≈ 10⁴
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-11 * Math.max(1, Math.abs(want)))
    }
  })

  it('draws have mean θ̃ and covariance σ²·I + s·d dᵀ', () => {
    const n = 3
    const N = 40_000
    const mean = [0.5, -1, 2]
    const d = [0.8, -0.3, 0.6]
    const scales = { sigma: 0.4, s: 1.5 }
    const cov = denseSigma(d, scales.sigma, scales.s)
    const eps = normals(c, { seed: 9, stream: MCMC_STREAMS.noise }, 0, N, n)
    const eta = normals(c, { seed: 9, stream: MCMC_STREAMS.direction }, 0, N, 1)
    const draws = Array.from({ length: N }, (_, k) => {
      const out = new Float64Array(n)
      drawProposal(mean, d, scales, eps.subarray(k * n, (k + 1) * n), eta[k], out)
      return out
    })
    for (let i = 0; i < n; i++) {
      const m = draws.reduce((a, x) => a + x[i], 0) / N
      // independent draws: SE of the mean √(Σ_ii/N); 4.5 SE over 3 + 6 statistics
      expect(Math.abs(m - mean[i])).toBeLessThan(4.5 * Math.sqrt(cov[i][i] / N))
      for (let j = i; j < n; j++) {
        const cij = draws.reduce((a, x) => a + (x[i] - mean[i]) * (x[j] - mean[j]), 0) / N
        // Gaussian: Var[(x_i − μ_i)(x_j − μ_j)] = Σ_ii Σ_jj + Σ_ij²
        const se = Math.sqrt((cov[i][i] * cov[j][j] + cov[i][j] ** 2) / N)
        expect(Math.abs(cij - cov[i][j])).toBeLessThan(4.5 * se)
      }
    }
  })
})

// -------------------------------------------------------------------------------------
// step
// -------------------------------------------------------------------------------------

describe('step', () => {
  it('acceptance ratio and proposal equal an independent f64 recomputation (λ, reverse Adam step from S₀)', () => {
    const n = 4
    const lambda = 1.7
    const energy = gaussianEnergy(MU, COV)
    const r = seeded(5)
    const start = {
      m: Float32Array.from({ length: n }, () => 0.3 * normal(r)),
      v: Float32Array.from({ length: n }, () => 0.5 + r()),
      step: 3,
    }
    const seed = 21
    const theta0 = Float32Array.from(MU, (x) => x + 0.7)
    const o = { theta0, energy, lr: 0.4, sigma: 1, sigmaDelta: 3, lambda, seed, adamState: start }
    c.scoped(() => {
      const chain = new AdamMcmc(c, o)
      const { sigma, s } = proposalScales(n, 1, 3)
      const opt = { lr: 0.4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false }
      let accepted = 0
      for (let k = 0; k < 30; k++) {
        const theta = Float64Array.from(chain.theta())
        const s0 = chain.adamState()
        // forward: θ̃ = Adam(θ, λ∇E(θ); S₀)
        const thetaTilde = theta.slice()
        const m1 = Float64Array.from(s0.m)
        const v1 = Float64Array.from(s0.v)
        adamStepRef(thetaTilde, energy(theta).grad.map((g) => lambda * g), m1, v1, { ...opt, step: s0.step + 1 })
        const d = thetaTilde.map((x, i) => x - theta[i])
        const eps = normals(c, { seed, stream: MCMC_STREAMS.noise }, k, 1, n)
        const eta = normals(c, { seed, stream: MCMC_STREAMS.direction }, k, 1, 1)[0]
        const tau = thetaTilde.map((x, i) => Math.fround(x + sigma * eps[i] + Math.sqrt(s) * eta * d[i]))
        // reverse: τ̃ = Adam(τ, λ∇E(τ); S₀)
        const tauTilde = tau.slice()
        const gTau = energy(tau).grad.map((g) => lambda * g)
        adamStepRef(tauTilde, gTau, Float64Array.from(s0.m), Float64Array.from(s0.v), { ...opt, step: s0.step + 1 })
        const dr = tauTilde.map((x, i) => x - tau[i])
        const logAlpha =
          -lambda * energy(tau).energy +
          lambda * energy(theta).energy +
          denseLogDensity(theta, tauTilde, denseSigma(dr, sigma, s)) -
          denseLogDensity(tau, thetaTilde, denseSigma(d, sigma, s))
        const u = uniforms(c, { seed, stream: MCMC_STREAMS.accept }, k, 1)[0]

        const res = chain.step()
        // The kernel's Adam runs in f32: θ̃ and τ̃ agree with f64 to ~1e-7 relative, which moves
        // log q by ≲ |r|/σ² · 1e-7 ≈ 1e-5 here
        expect(Math.abs(res.logAlpha - logAlpha)).toBeLessThan(1e-4)
        expect(res.accepted).toBe(Math.log(u) < logAlpha)
        const after = chain.adamState()
        if (res.accepted) {
          accepted++
          // τ is rounded to f32 once; the f64 recomputation rounds the same sum (ε, η are f32 draws)
          const now = chain.theta()
          for (let i = 0; i < n; i++)
            expect(Math.abs(now[i] - tau[i])).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(tau[i])))
          // accepted: the state after the forward step, S₁
          expect(after.step).toBe(s0.step + 1)
          after.m.forEach((x, i) => expect(x).toBeCloseTo(m1[i], 6))
          after.v.forEach((x, i) => expect(x).toBeCloseTo(v1[i], 6))
        } else {
          // rejected: θ and S₀ bit for bit
          expect(chain.theta()).toEqual(Float32Array.from(theta))
          expect(after.step).toBe(s0.step)
          expect(after.m).toEqual(s0.m)
          expect(after.v).toEqual(s0.v)
        }
      }
      // both branches were exercised
      expect(accepted).toBeGreaterThan(3)
      expect(accepted).toBeLessThan(27)
    })
  })

  it('a rejected step restores θ and the Adam state exactly', () => {
    const n = 6
    const theta0 = Float32Array.from({ length: n }, (_, i) => 0.1 * i - 0.2)
    // Energy 0 at θ₀ and 10⁶ elsewhere, with a non-zero gradient: every proposal is rejected
    // (log α ≈ −10⁶), while the forward and reverse Adam steps do move the moments.
    const grad = Float32Array.from({ length: n }, (_, i) => 1 + i)
    const energy = (th: Float32Array) => ({ energy: th.every((x, i) => x === theta0[i]) ? 0 : 1e6, grad })
    const start = { m: new Float32Array(n).fill(0.25), v: new Float32Array(n).fill(2), step: 7 }
    c.scoped(() => {
      const chain = new AdamMcmc(c, { theta0, energy, sigma: 0.3, sigmaDelta: 2, seed: 1, adamState: start })
      for (let k = 0; k < 5; k++) {
        const r = chain.step()
        expect(r.accepted).toBe(false)
        expect(r.logAlpha).toBeLessThan(-1e5)
        expect(r.energy).toBe(0)
        expect(chain.theta()).toEqual(theta0)
        expect(chain.adamState()).toEqual(start)
      }
      expect(chain.iteration).toBe(5)
    })
  })

  it('a proposal with a non-finite energy is rejected; a non-finite start is an error', () => {
    const theta0 = new Float32Array([0.5, -0.5])
    const energy = (th: Float32Array) => ({
      energy: th[0] === 0.5 ? 1 : Number.NaN,
      grad: new Float32Array([1, 1]),
    })
    c.scoped(() => {
      const chain = new AdamMcmc(c, { theta0, energy, sigma: 0.1, sigmaDelta: 0, seed: 4 })
      const r = chain.step()
      expect(r.accepted).toBe(false)
      expect(r.logAlpha).toBe(Number.NEGATIVE_INFINITY)
      const bad = new AdamMcmc(c, { theta0: new Float32Array([0, 0]), energy, sigma: 0.1, seed: 4 })
      expect(() => bad.step()).toThrow(/non-finite energy or gradient at iteration 0/)
    })
    const o = { theta0, energy, sigma: 0.1, seed: 4 }
    expect(() => runAdamMcmc(c, { ...o, thinning: 0 })).toThrow(/thinning must be an integer ≥ 1/)
    expect(() => runAdamMcmc(c, { ...o, lambda: -1 })).toThrow(/lambda must be a positive number/)
  })

  it('an energy that reuses its gradient buffer gives the same chain', () => {
    const energy = gaussianEnergy(MU, COV)
    const buffer = new Float32Array(4)
    const reusing = (th: Float32Array) => {
      const v = energy(th)
      buffer.set(v.grad)
      return { energy: v.energy, grad: buffer }
    }
    const o = { ...CHAIN, seed: 6, thinning: 10, samples: 4 }
    const fresh = runAdamMcmc(c, { ...o, energy })
    const reused = runAdamMcmc(c, { ...o, energy: reusing })
    expect(reused.samples).toEqual(fresh.samples)
    expect(reused.acceptance).toEqual(fresh.acceptance)
    // both branches occurred, so a cached gradient was reused after a rejection
    expect(fresh.acceptance.some((a) => a > 0 && a < 1)).toBe(true)
  })

  it('a deterministic energy is evaluated once per iteration; a stochastic one twice, on the iteration index', () => {
    const energy = gaussianEnergy([0, 0], [
      [1, 0.5],
      [0.5, 1],
    ])
    const calls: number[] = []
    const counted = (th: Float32Array, k: number) => {
      calls.push(k)
      return energy(th)
    }
    const o = { theta0: new Float32Array([0.2, 0.1]), energy: counted, sigma: 1, sigmaDelta: 1, lr: 0.1, seed: 2 }
    runAdamMcmc(c, { ...o, thinning: 5, samples: 2 })
    // once at the start, then once per iteration (the proposal)
    expect(calls).toEqual([0, ...Array.from({ length: 10 }, (_, k) => k)])
    calls.length = 0
    runAdamMcmc(c, { ...o, thinning: 5, samples: 2, stochastic: true })
    expect(calls).toEqual(Array.from({ length: 10 }, (_, k) => [k, k]).flat())
  })
})

// -------------------------------------------------------------------------------------
// chain
// -------------------------------------------------------------------------------------

describe('chain', () => {
  const energy = gaussianEnergy(MU, COV)

  it('samples a known Gaussian: mean and covariance within Monte Carlo error (frozen Adam state)', () => {
    const o = { ...CHAIN, energy, seed: 3, burnIn: 2000, thinning: 1 }
    const r = runAdamMcmc(c, { ...o, samples: 120_000, adaptation: 'burnIn' })
    const acc = r.acceptance.reduce((a, x) => a + x, 0) / r.acceptance.length
    expect(acc).toBeGreaterThan(0.2)
    expect(acc).toBeLessThan(0.5)
    // Batch means (40 batches of 3000): the estimated SE itself is uncertain by ~1/√(2·39) ≈ 11%,
    // and 14 statistics are tested: |z| < 4 leaves a false-alarm probability of ~1e-3 for a correct
    // chain, while a 5% error in any covariance entry is ~5 SE at this chain length.
    const z = zScores(r.samples, MU, COV)
    for (const zi of z) expect(Math.abs(zi)).toBeLessThan(4)
  })

  it('a proposal density without the rank-one term (inconsistent with the draw) is detected as biased', () => {
    const isotropic: ProposalDensity = (x, mean, d, scales) =>
      proposalLogDensity(x, mean, new Float64Array(d.length), scales)
    const r = runAdamMcmc(c, {
      ...CHAIN,
      energy,
      seed: 3,
      burnIn: 2000,
      thinning: 1,
      samples: 40_000,
      adaptation: 'burnIn',
      logProposal: isotropic,
    })
    // the same statistics as the test above: far outside any Monte Carlo error
    const z = zScores(r.samples, MU, COV)
    expect(Math.max(...z.map(Math.abs))).toBeGreaterThan(10)
  })

  it("'always' adaptation (the reference code's) is not π-invariant: the momentum shrinks the covariance", () => {
    // Each step is exact given its start state, but Adam's momentum follows the path. Measured with
    // these settings: covariance diagonal 20–25% low at ~12 SE; with β₁ = 0 (no momentum) the bias
    // is below the Monte Carlo error.
    const r = runAdamMcmc(c, { ...CHAIN, energy, seed: 3, burnIn: 2000, thinning: 1, samples: 120_000 })
    const z = zScores(r.samples, MU, COV)
    // diagonal covariances: entries 4, 8, 11, 13 of the z list
    for (const i of [4, 8, 11, 13]) expect(z[i]).toBeLessThan(-6)
  })

  it('a seed fixes the chain; another seed changes it', () => {
    const o = { ...CHAIN, energy, thinning: 20, samples: 5, burnIn: 10 }
    const a = runAdamMcmc(c, { ...o, seed: 8 })
    const b = runAdamMcmc(c, { ...o, seed: 8 })
    const other = runAdamMcmc(c, { ...o, seed: 9 })
    expect(b.samples).toEqual(a.samples)
    expect(b.acceptance).toEqual(a.acceptance)
    expect(b.energies).toEqual(a.energies)
    expect(b.adamState).toEqual(a.adamState)
    expect(other.samples).not.toEqual(a.samples)
    expect(a.samples).toHaveLength(5)
    expect(a.energies).toHaveLength(110)
  })

  it('reports one acceptance rate per stretch and the burn-in apart', () => {
    const stretches: string[] = []
    const r = runAdamMcmc(c, {
      ...CHAIN,
      energy,
      seed: 8,
      thinning: 50,
      samples: 3,
      burnIn: 30,
      onStretch: (s) => stretches.push(`${s.kind}:${s.index}:${s.iterations}`),
    })
    expect(stretches).toEqual(['burnIn:-1:30', 'sample:0:50', 'sample:1:50', 'sample:2:50'])
    expect(r.acceptance).toHaveLength(3)
    // every rate is a count over 50 iterations
    for (const a of r.acceptance) expect(Number.isInteger(a * 50)).toBe(true)
    expect(Number.isInteger(r.burnInAcceptance * 30)).toBe(true)
    // sample i is the state after burn-in + (i + 1)·thinning iterations, whose energy is recorded
    r.samples.forEach((s, i) => expect(r.energies[30 + 50 * (i + 1) - 1]).toBeCloseTo(energy(s).energy, 12))
  })
})
