/**
 * AdamMCMC (paper section 3.2, eqs. 3.7–3.11; Bieringer et al. 2023, arXiv:2312.14027): a
 * Metropolis–Hastings chain over the weights whose proposal is a Gaussian around an Adam step,
 * elongated along that step. Generic over the energy: any `Energy` returning a value and its
 * gradient (the CNF negative log-likelihood is one).
 *
 * Target. `π_λ(θ) ∝ exp(−λ·E(θ))` (eq. 3.11 with the prior folded into `E`), so `U = λ·E` is the
 * energy the chain sees. λ enters in two places, both through `U` only: the acceptance ratio
 * (eq. 3.9) and the Adam step, which is taken on `∇U = λ·∇E`. The chain is therefore a function of
 * the target alone (sampling `E` at λ = 2 is sampling `2E` at λ = 1). Adam is invariant under a
 * constant scaling of the gradient up to its `ε`, so this step equals the reference code's step
 * on the untempered gradient to within the effect of `ε` (1e-8 against |∇U|).
 *
 * One iteration k, from the state θ with Adam state S₀ = (m, v, step):
 * 1. θ̃ = Adam(θ, ∇U(θ); S₀), which leaves the state S₁ (eq. 3.7); d = θ̃ − θ.
 * 2. τ ~ N(θ̃, Σ(d)) with Σ(d) = σ²·I + s·d dᵀ (eq. 3.8), drawn exactly as
 *    τ = θ̃ + σ·ε + √s·η·d, ε ~ N(0, I_n), η ~ N(0, 1) scalar: the covariance of σ·ε + √s·η·d is
 *    σ²·I + s·d dᵀ.
 * 3. log q(τ | θ) = −½ rᵀ Σ⁻¹ r − ½ log det Σ − (n/2) log 2π with r = τ − θ̃, in closed form by
 *    Sherman–Morrison, Σ⁻¹ = σ⁻²·(I − s·d dᵀ/(σ² + s‖d‖²)), and the matrix determinant lemma,
 *    det Σ = σ^{2n}·(1 + s‖d‖²/σ²): the same Gaussian the draw samples.
 * 4. The reverse density q(θ | τ) is the density of the same proposal mechanism started at τ with
 *    the same Adam state S₀: τ̃ = Adam(τ, ∇U(τ); S₀), d′ = τ̃ − τ, log q(θ | τ) with mean τ̃ and
 *    rank-one direction d′ (eq. 3.9). (The reference code instead reuses d for the reverse mean,
 *    τ − (θ − θ̃), and draws the rank-one noise per coordinate: neither matches its density.)
 * 5. Accept with probability min(1, exp(−U(τ) + U(θ) + log q(θ | τ) − log q(τ | θ))). On
 *    acceptance θ ← τ and the Adam state becomes S₁, the state after the forward step, as the
 *    optimizer would hold it had it simply stepped (the reference code does the same). On
 *    rejection θ stays and the Adam state returns to S₀, bit for bit.
 *
 * What is exact and what is adaptive. For a fixed Adam state S, steps 1–5 are a Metropolis–Hastings
 * kernel K_S that is exactly reversible with respect to π_λ (up to f32 rounding of the stored
 * weights): proposal draw and density are one and the same Gaussian, forward and reverse. Keeping
 * S₁ on acceptance makes the state follow the chain's path, so the chain as a whole is adaptive
 * MCMC: each step is exact given its starting state, but the momentum m correlates with recent
 * positions, and π_λ-invariance of the whole chain is only guaranteed when the state is frozen.
 * `adaptation: 'burnIn'` does that: the state advances during burn-in and is frozen for the
 * sampling iterations, which then form a time-homogeneous chain with π_λ as invariant law.
 * The default, `'always'`, follows the reference code. Measured on a 4-parameter Gaussian target
 * (test/adam-mcmc.test.ts, Adam step of the order of the noise): with `'always'` the variances come
 * out 20–25% low, about 12 Monte Carlo standard errors; with `'burnIn'` every mean and covariance
 * agrees with the truth within Monte Carlo error; with β₁ = 0 `'always'` agrees too, so the bias is
 * the momentum's memory of the path. Freezing a fresh state (no burn-in, no `adamState`) freezes
 * Adam's first step, lr·sign(∇U) per weight: still a valid proposal, but no longer Adam-like.
 *
 * Rounding. τ is stored in f32 and both densities are evaluated at the stored τ, in f64. The f32
 * rounding moves log q by about √n·ulp(θ)/(2σ): ≲ 1e-3 nats for the paper's σ = 0.1/√2498 and
 * |θ| ≲ 1, small against the O(1) log-ratios that decide acceptance.
 *
 * Scales (what the user passes, and what multiplies what). Like the reference code, `sigma` and
 * `sigmaDelta` are given "per weight" and normalised by 1/√n (n = number of weights):
 *   σ = sigma/√n,   √s = sigmaDelta/√n,   Σ = σ²·I + s·d dᵀ = (sigma² · I + sigmaDelta² · d dᵀ)/n.
 * σ is the isotropic standard deviation; √s is the standard deviation, in units of the step d,
 * along the step. This is the reference code's density, whose rank-one coefficient is the square
 * of its normalised `sigma_adam_dir`. The paper's "σ_Δ ≈ 50" is the reference's
 * `sigma_adam_dir_denom`: the reference passes sigma_adam_dir = n/50 (= 49.96 for the paper's 2498
 * weights, hence "≈ 50"), so the paper's setting is `sigmaDelta = n/50`, i.e. √s = √n/50 ≈ 1: the
 * proposal spreads along the Adam step by about the step's own length.
 *
 * Random numbers (shared/core/rng.ts, Philox keyed by the seed), iteration k being point k:
 * - ε: the n normals of point k of stream MCMC_STREAMS.noise (dimension j is weight j);
 * - η: the normal of point k of stream MCMC_STREAMS.direction;
 * - u: the uniform of index k of stream MCMC_STREAMS.accept; accept iff log u < log α.
 * A seed and a start (θ₀, Adam state) therefore fix the whole chain.
 */
import { normalsPtr, uniforms } from '../core/rng.ts'
import type { Core } from '../core/wasm.ts'
import { Adam, type OptimizerOptions, optimizerDefaults, optimizerProblem } from './adam.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Stream numbers of the chain's draws ("mc" in the top half, apart from training and data streams). */
export const MCMC_STREAMS = { noise: 0x6d630000, direction: 0x6d630001, accept: 0x6d630002 } as const

/** An energy's value at θ and its gradient with respect to θ (f32, one entry per weight). */
export interface EnergyValue {
  readonly energy: number
  readonly grad: Float32Array
}

/**
 * The untempered energy `E(θ)` (for the CNF: the negative log-likelihood of the data, scaled so that
 * λ = 1 is the untempered posterior) and its gradient. `iteration` is the chain's iteration index:
 * a minibatch energy uses it to choose its batch, so that both points of an iteration (θ and the
 * proposal τ) see the same batch; a full-batch energy ignores it. `theta` is a fresh copy the
 * energy may keep; the sampler copies `grad` at once, so the energy may reuse one buffer (or return
 * a view into the core's memory) from call to call.
 */
export type Energy = (theta: Float32Array, iteration: number) => EnergyValue

/** The proposal's normalised scales: Σ = sigma²·I + s·d dᵀ. */
export interface ProposalScales {
  /** Isotropic standard deviation σ. */
  readonly sigma: number
  /** Coefficient s of the rank-one term (a variance per unit step length squared). */
  readonly s: number
}

/** A proposal log-density `log q(x)` of `N(mean, σ²·I + s·d dᵀ)`, as `proposalLogDensity`. */
export type ProposalDensity = (
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  d: ArrayLike<number>,
  scales: ProposalScales,
) => number

/** An Adam state: moments and step count, as `Adam.state()` returns it. */
export interface AdamState {
  readonly m: Float32Array
  readonly v: Float32Array
  readonly step: number
}

export interface AdamMcmcOptions {
  /** Starting weights (copied). */
  readonly theta0: Float32Array
  readonly energy: Energy
  /** Adam's learning rate. @default 1e-3 */
  readonly lr?: number
  /** Adam's (β₁, β₂). @default [0.9, 0.999] */
  readonly betas?: readonly [number, number]
  /** Adam's ε. @default 1e-8 */
  readonly eps?: number
  /** Isotropic proposal noise per weight, before the 1/√n normalisation (paper: 0.01 … 0.5). */
  readonly sigma: number
  /** Standard deviation along the Adam step, before the 1/√n normalisation. @default n/50, the paper's setting */
  readonly sigmaDelta?: number
  /** Inverse temperature λ of eq. 3.11. @default 1 */
  readonly lambda?: number
  /** Integer in [0, 2^32). */
  readonly seed: number
  /**
   * Whether the energy depends on the iteration (a minibatch energy). If so both θ and τ are
   * evaluated at every iteration (two evaluations); if not, θ's value is kept from the iteration
   * that accepted it (one evaluation per iteration). @default false
   */
  readonly stochastic?: boolean
  /** Adam state to start from (e.g. the pretraining's). @default - fresh: zero moments, step 0 */
  readonly adamState?: AdamState
  /**
   * Replaces the proposal's log-density in the acceptance ratio. Only for showing that a density
   * inconsistent with the draw biases the chain (tests). @default proposalLogDensity
   */
  readonly logProposal?: ProposalDensity
}

/** The outcome of one iteration. */
export interface StepResult {
  readonly accepted: boolean
  /** log of the acceptance ratio (−∞ when the proposal's energy or step is not finite). */
  readonly logAlpha: number
  /** The untempered energy E of the state after the iteration (θ's value on θ's batch). */
  readonly energy: number
}

export interface StretchReport {
  /** 'burnIn', or 'sample' for the stretch that ends with sample `index`. */
  readonly kind: 'burnIn' | 'sample'
  /** 0-based sample index (−1 for burn-in). */
  readonly index: number
  /** Iterations of the stretch. */
  readonly iterations: number
  /** Fraction of the stretch's proposals accepted. */
  readonly acceptance: number
  /** Untempered energy of the state at the end of the stretch. */
  readonly energy: number
}

export interface RunAdamMcmcOptions extends AdamMcmcOptions {
  /** Iterations between two samples (`l` of eq. 3.10; epochs × batches per epoch). @default 100 */
  readonly thinning?: number
  /** Number of samples n_MCMC. @default 10 */
  readonly samples?: number
  /** Iterations before the first stretch. @default 0 */
  readonly burnIn?: number
  /** 'always': the Adam state follows the chain (reference code); 'burnIn': frozen after burn-in. @default 'always' */
  readonly adaptation?: 'always' | 'burnIn'
  readonly onStretch?: (report: StretchReport) => void
}

export interface AdamMcmcResult {
  /** θ at the end of each stretch: sample i after burnIn + (i + 1)·thinning iterations. */
  readonly samples: Float32Array[]
  /** Acceptance rate of each stretch (the `thinning` iterations before each sample). */
  readonly acceptance: number[]
  /** Acceptance rate of the burn-in (NaN without burn-in). */
  readonly burnInAcceptance: number
  /** Untempered energy of the chain's state after every iteration, burn-in included. */
  readonly energies: Float64Array
  /** The Adam state at the end, to continue the chain. */
  readonly adamState: AdamState
}

// -------------------------------------------------------------------------------------
// proposal
// -------------------------------------------------------------------------------------

/**
 * The normalised proposal scales from the per-weight values a user passes, as the reference code
 * normalises them: σ = sigma/√n, √s = sigmaDelta/√n (see the module header).
 */
export const proposalScales = (nWeights: number, sigma: number, sigmaDelta: number): ProposalScales => {
  if (!Number.isInteger(nWeights) || nWeights < 1)
    throw new RangeError(`AdamMCMC: weight count must be a positive integer, got ${nWeights}`)
  if (!(sigma > 0) || !Number.isFinite(sigma))
    throw new RangeError(`AdamMCMC: sigma must be a positive number, got ${sigma}`)
  if (!(sigmaDelta >= 0) || !Number.isFinite(sigmaDelta))
    throw new RangeError(`AdamMCMC: sigmaDelta must be a non-negative number, got ${sigmaDelta}`)
  const c = sigmaDelta / Math.sqrt(nWeights)
  return { sigma: sigma / Math.sqrt(nWeights), s: c * c }
}

/** The paper's σ_Δ "≈ 50": the reference passes n/50 (section 4.2; 49.96 for 2498 weights). */
export const paperSigmaDelta = (nWeights: number): number => nWeights / 50

const LOG_2PI = Math.log(2 * Math.PI)

/**
 * log N(x; mean, σ²·I + s·d dᵀ), normalising constant included, in O(n): with r = x − mean,
 * rᵀΣ⁻¹r = (‖r‖² − s·(d·r)²/(σ² + s‖d‖²))/σ² (Sherman–Morrison) and
 * log det Σ = 2n·log σ + log1p(s‖d‖²/σ²) (matrix determinant lemma). Sums run in f64; the
 * subtraction loses at most a factor 1 + s‖d‖²/σ² of relative accuracy, about 2 for the paper's
 * settings.
 */
export const proposalLogDensity: ProposalDensity = (x, mean, d, { sigma, s }) => {
  const n = x.length
  if (mean.length !== n || d.length !== n)
    throw new RangeError(`proposal density: x, mean and d must have one length, got ${n}, ${mean.length}, ${d.length}`)
  let rr = 0
  let dr = 0
  let dd = 0
  for (let i = 0; i < n; i++) {
    const r = x[i] - mean[i]
    rr += r * r
    dr += d[i] * r
    dd += d[i] * d[i]
  }
  const s2 = sigma * sigma
  const quad = (rr - (s * dr * dr) / (s2 + s * dd)) / s2
  const logDet = 2 * n * Math.log(sigma) + Math.log1p((s * dd) / s2)
  return -0.5 * (quad + logDet + n * LOG_2PI)
}

/**
 * One draw of N(mean, σ²·I + s·d dᵀ) from standard normals: out_i = mean_i + σ·ε_i + √s·η·d_i,
 * computed in f64 and rounded once to the output's type.
 */
export const drawProposal = (
  mean: ArrayLike<number>,
  d: ArrayLike<number>,
  { sigma, s }: ProposalScales,
  eps: ArrayLike<number>,
  eta: number,
  out: Float32Array | Float64Array,
): void => {
  const n = out.length
  if (mean.length !== n || d.length !== n || eps.length !== n)
    throw new RangeError(
      `proposal draw: mean, d, eps and out must have one length, got ${mean.length}, ${d.length}, ${eps.length}, ${n}`,
    )
  const c = Math.sqrt(s) * eta
  for (let i = 0; i < n; i++) out[i] = mean[i] + sigma * eps[i] + c * d[i]
}

// -------------------------------------------------------------------------------------
// sampler
// -------------------------------------------------------------------------------------

const allFinite = (a: ArrayLike<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false
  return true
}

/**
 * An AdamMCMC chain over `n` weights on a core. Its buffers live in the core's arena from
 * construction on: run it inside `core.scoped` (as `runAdamMcmc` does) to free them.
 */
export class AdamMcmc {
  readonly core: Core
  readonly n: number
  readonly scales: ProposalScales
  readonly lambda: number
  readonly seed: number
  /** The next iteration's index: its random numbers are point `iteration` of each stream. */
  iteration = 0
  /** When false the Adam state is frozen: every iteration starts from the same state. */
  adapt = true
  private readonly adam: Adam
  private readonly energyFn: Energy
  private readonly stochastic: boolean
  private readonly logProposal: ProposalDensity
  /** f32 [n] each: θ, θ̃, τ, τ̃, the tempered gradient fed to Adam, ε. */
  private readonly thetaPtr: number
  private readonly thetaTildePtr: number
  private readonly tauTildePtr: number
  private readonly gradPtr: number
  private readonly epsPtr: number
  /** E and ∇E at θ when the energy is deterministic (undefined: evaluate at the next step). */
  private current: EnergyValue | undefined
  private currentEnergy = Number.NaN

  constructor(core: Core, o: AdamMcmcOptions) {
    const n = o.theta0.length
    if (n < 1) throw new RangeError('AdamMCMC: theta0 is empty')
    if (!allFinite(o.theta0)) throw new RangeError('AdamMCMC: theta0 has non-finite weights')
    const lambda = o.lambda ?? 1
    if (!(lambda > 0) || !Number.isFinite(lambda))
      throw new RangeError(`AdamMCMC: lambda must be a positive number, got ${lambda}`)
    if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed >= 2 ** 32)
      throw new RangeError(`AdamMCMC: seed must be an integer in [0, 2^32), got ${o.seed}`)
    const [beta1, beta2] = o.betas ?? [0.9, 0.999]
    const opt: OptimizerOptions = { ...optimizerDefaults('adam'), beta1, beta2, eps: o.eps ?? 1e-8 }
    const lr = o.lr ?? 1e-3
    const problem = optimizerProblem(opt, lr)
    if (problem !== undefined) throw new RangeError(`AdamMCMC: invalid optimizer: ${problem}`)
    this.core = core
    this.n = n
    this.scales = proposalScales(n, o.sigma, o.sigmaDelta ?? paperSigmaDelta(n))
    this.lambda = lambda
    this.seed = o.seed
    this.energyFn = o.energy
    this.stochastic = o.stochastic ?? false
    this.logProposal = o.logProposal ?? proposalLogDensity
    this.adam = new Adam(core, n, lr, opt)
    if (o.adamState !== undefined) this.adam.restore(o.adamState)
    this.thetaPtr = core.putF32(o.theta0)
    this.thetaTildePtr = core.allocF32(n)
    this.tauTildePtr = core.allocF32(n)
    this.gradPtr = core.allocF32(n)
    this.epsPtr = core.allocF32(n)
  }

  /** A copy of the current weights. */
  theta(): Float32Array {
    return this.core.f32(this.thetaPtr, this.n).slice()
  }

  /** A copy of the Adam state the next iteration starts from. */
  adamState(): AdamState {
    return this.adam.state()
  }

  /** The untempered energy of the current state as last evaluated (NaN before the first step). */
  get energy(): number {
    return this.currentEnergy
  }

  /** One Metropolis–Hastings iteration (module header, steps 1–5). */
  step(): StepResult {
    const { core, n, lambda } = this
    const k = this.iteration
    const theta = core.f32(this.thetaPtr, n).slice()
    const atTheta = this.current ?? this.evaluate(theta, k)
    if (!Number.isFinite(atTheta.energy) || !allFinite(atTheta.grad))
      throw new RangeError(`AdamMCMC: the chain's state has a non-finite energy or gradient at iteration ${k}`)
    this.currentEnergy = atTheta.energy

    // 1. θ̃ = Adam(θ, λ∇E(θ); S₀) → S₁
    const s0 = this.adam.state()
    const thetaTilde = this.adamStep(this.thetaTildePtr, theta, atTheta.grad)
    const s1 = this.adam.state()
    const d = new Float64Array(n)
    for (let i = 0; i < n; i++) d[i] = thetaTilde[i] - theta[i]

    // 2. τ = θ̃ + σε + √s·η·d, stored in f32; the density below is evaluated at the stored τ
    normalsPtr(core, { seed: this.seed, stream: MCMC_STREAMS.noise }, k, 1, n, this.epsPtr)
    const eta = core.scoped(() => {
      const p = core.allocF32(1)
      normalsPtr(core, { seed: this.seed, stream: MCMC_STREAMS.direction }, k, 1, 1, p)
      return core.f32(p, 1)[0]
    })
    const tau = new Float32Array(n)
    drawProposal(thetaTilde, d, this.scales, core.f32(this.epsPtr, n), eta, tau)
    const logForward = this.logProposal(tau, thetaTilde, d, this.scales)

    // 3–4. U(τ), τ̃ = Adam(τ, λ∇E(τ); S₀), log q(θ | τ)
    const atTau = this.evaluate(tau.slice(), k)
    let logAlpha = Number.NEGATIVE_INFINITY
    if (Number.isFinite(atTau.energy) && allFinite(atTau.grad)) {
      this.adam.restore(s0)
      const tauTilde = this.adamStep(this.tauTildePtr, tau, atTau.grad)
      const dr = new Float64Array(n)
      for (let i = 0; i < n; i++) dr[i] = tauTilde[i] - tau[i]
      const logReverse = this.logProposal(theta, tauTilde, dr, this.scales)
      logAlpha = -lambda * atTau.energy + lambda * atTheta.energy + logReverse - logForward
      if (Number.isNaN(logAlpha)) logAlpha = Number.NEGATIVE_INFINITY
    }

    // 5. accept iff log u < log α
    const u = uniforms(core, { seed: this.seed, stream: MCMC_STREAMS.accept }, k, 1)[0]
    const accepted = Math.log(u) < logAlpha
    if (accepted) {
      core.f32(this.thetaPtr, n).set(tau)
      this.current = this.stochastic ? undefined : atTau
      this.currentEnergy = atTau.energy
    } else {
      this.current = this.stochastic ? undefined : atTheta
    }
    this.adam.restore(accepted && this.adapt ? s1 : s0)
    this.iteration = k + 1
    return { accepted, logAlpha, energy: this.currentEnergy }
  }

  /** Evaluates the energy, checking the gradient's length; the gradient is copied (see `Energy`). */
  private evaluate(theta: Float32Array, k: number): EnergyValue {
    const v = this.energyFn(theta, k)
    if (v.grad.length !== this.n)
      throw new RangeError(`AdamMCMC: the energy's gradient has ${v.grad.length} entries, the chain ${this.n} weights`)
    return { energy: v.energy, grad: v.grad.slice() }
  }

  /** Writes `from` at `ptr`, applies one Adam update with the gradient λ·grad, returns a copy. */
  private adamStep(ptr: number, from: Float32Array, grad: Float32Array): Float32Array {
    const { core, n, lambda } = this
    core.f32(ptr, n).set(from)
    const g = core.f32(this.gradPtr, n)
    for (let i = 0; i < n; i++) g[i] = lambda * grad[i]
    this.adam.update(ptr, this.gradPtr)
    return core.f32(ptr, n).slice()
  }
}

// -------------------------------------------------------------------------------------
// schedule
// -------------------------------------------------------------------------------------

const checkCount = (name: string, x: number, min: number): void => {
  if (!Number.isInteger(x) || x < min) throw new RangeError(`AdamMCMC: ${name} must be an integer ≥ ${min}, got ${x}`)
}

/**
 * Runs an AdamMCMC chain: `burnIn` iterations, then `samples` stretches of `thinning` iterations,
 * keeping θ at the end of each stretch (eq. 3.10) and each stretch's acceptance rate.
 *
 * @example
 * const r = runAdamMcmc(core(), { theta0, energy, sigma: 0.1, seed: 1 }) // 10 samples, l = 100
 */
export const runAdamMcmc = (core: Core, o: RunAdamMcmcOptions): AdamMcmcResult => {
  const thinning = o.thinning ?? 100
  const samples = o.samples ?? 10
  const burnIn = o.burnIn ?? 0
  checkCount('thinning', thinning, 1)
  checkCount('samples', samples, 1)
  checkCount('burnIn', burnIn, 0)
  const adaptation = o.adaptation ?? 'always'
  if (adaptation !== 'always' && adaptation !== 'burnIn')
    throw new RangeError(`AdamMCMC: adaptation must be 'always' or 'burnIn', got '${String(adaptation)}'`)
  return core.scoped(() => {
    const chain = new AdamMcmc(core, o)
    const energies = new Float64Array(burnIn + samples * thinning)
    let it = 0
    const stretch = (iterations: number): number => {
      let accepted = 0
      for (let j = 0; j < iterations; j++) {
        const r = chain.step()
        if (r.accepted) accepted++
        energies[it++] = r.energy
      }
      return accepted / iterations
    }
    let burnInAcceptance = Number.NaN
    if (burnIn > 0) {
      burnInAcceptance = stretch(burnIn)
      const energy = chain.energy
      o.onStretch?.({ kind: 'burnIn', index: -1, iterations: burnIn, acceptance: burnInAcceptance, energy })
    }
    if (adaptation === 'burnIn') chain.adapt = false
    const out: Float32Array[] = []
    const acceptance: number[] = []
    for (let i = 0; i < samples; i++) {
      const a = stretch(thinning)
      out.push(chain.theta())
      acceptance.push(a)
      o.onStretch?.({ kind: 'sample', index: i, iterations: thinning, acceptance: a, energy: chain.energy })
    }
    return { samples: out, acceptance, burnInAcceptance, energies, adamState: chain.adamState() }
  })
}
