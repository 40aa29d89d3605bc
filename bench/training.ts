/**
 * The training half of `npm run bench`: for the paper's model on one core, side by side with
 * PyTorch (bench/torch_gen.py, one thread),
 * - CFM training steps, batch 1000: WASM times `trainCfm` itself for a number of epochs of 10
 *   batches (the loop a real training runs: batch indices from the permutations, t and x0 from
 *   Philox, x_t and u, the fused loss-and-gradient kernel, the finiteness check, Adam, plus the
 *   call's setup, which is small beside an epoch); PyTorch runs shared/anchors/torch/ref.py's
 *   train_epoch (randperm, randn, rand, loss, zero_grad, backward, Adam step, loss.item());
 * - one AdamMCMC energy-and-gradient evaluation, batch 1000, RK4 with 8 steps: WASM calls the
 *   energy AdamMCMC calls (`mcmcEnergy`: the minibatch gathered from a permutation, then
 *   `energyGrad`); PyTorch runs ref.py's NLL forward and backward (section [3]);
 * - a VIB step against a CFM step, both WASM (`trainVib` with each estimator against `trainCfm`,
 *   same variant).
 * Every side is measured once per round, rounds are interleaved, and comparisons are per-round
 * ratios, as for generation (bench/main.ts says why). Both WASM builds are timed where the runtime
 * has relaxed SIMD; a training uses the relaxed one there (`core('auto')`).
 */
import { core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { sampleRing } from '../shared/data/gamma-ring.ts'
import { type Mlp, parameterCount } from '../shared/model/spec.ts'
import { cfmLossGrad } from '../shared/train/backprop.ts'
import { trainCfm } from '../shared/train/cfm.ts'
import { energyGrad } from '../shared/train/loglik.ts'
import { mcmcEnergy } from '../shared/train/mcmc-energy.ts'
import { trainVib } from '../shared/train/vib.ts'
import { latents, soaToRows } from './model.ts'
import type { TorchGenerator } from './torch.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface TrainingBenchOptions {
  readonly rounds: number
  /** Seconds per measurement. */
  readonly target: number
}

/** Median and range of a per-round series. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly samples: readonly number[]
}

/** What the training bench measured (ms per step or per evaluation, and per-round ratios). */
export interface TrainingReport {
  readonly data: { readonly points: number; readonly batch: number; readonly batchesPerEpoch: number }
  readonly energy: { readonly solver: 'rk4'; readonly steps: number; readonly scale: number }
  /** Median and range over rounds of ms per CFM step / VIB step / energy evaluation, per side. */
  readonly ms: Record<string, Summary>
  /** Per-round ratios: PyTorch's ms over WASM's (the speed-up), VIB's ms over CFM's. */
  readonly ratios: Record<string, Summary>
  /** PyTorch's CPU seconds over wall seconds per request (≈ 1: one core, < 1: descheduled). */
  readonly torchCpuPerWall?: Summary
  /** Agreement of the WASM kernels with PyTorch on the same inputs (f64 comparisons of f32 results). */
  readonly agreement: Record<string, number>
  readonly skipped: Record<string, string>
}

/** A measurement taken once per round; returns ms per step (or per evaluation). */
interface Side {
  readonly key: string
  readonly label: string
  measure(): Promise<number>
}

/** The training set: the Gamma ring, N = 10 000, seed 1 (what `bayesamp train` draws by default size). */
const N = 10_000
const BATCH = 1000
const PER_EPOCH = 10
const ENERGY_STEPS = 8

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

export const summarize = (xs: readonly number[]): Summary => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  const median = s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
  return { median, min: s[0], max: s[s.length - 1], samples: xs }
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9

/** How many units of `unitSeconds` fill `target` seconds, at least `min`. */
const units = (target: number, unitSeconds: number, min = 1): number => Math.max(min, Math.round(target / unitSeconds))

/** max |a − b| over max |b|: the gradient's disagreement relative to its scale. */
export const relativeMaxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let diff = 0
  let scale = 0
  for (let k = 0; k < a.length; k++) {
    diff = Math.max(diff, Math.abs(a[k] - b[k]))
    scale = Math.max(scale, Math.abs(b[k]))
  }
  return diff / scale
}

/**
 * The CFM draws of a check on `n` points of `data`: times in (0, 1), standard-normal latents, and
 * x_t = (1 − (1 − σ)t)·x0 + t·x1, u = x1 − (1 − σ)·x0 computed in f64 and rounded to f32, as the
 * kernel `cfm_pairs` does. Row-major.
 */
export const cfmDraws = (
  x1: Float32Array,
  n: number,
  d: number,
  sigmaMin: number,
): { t: Float32Array; x0: Float32Array; xt: Float32Array; u: Float32Array } => {
  const t = Float32Array.from(latents(n, 1, 6), (v) => 0.5 + 0.5 * Math.tanh(v))
  const x0 = soaToRows(latents(n, d, 4), n, d)
  const xt = new Float32Array(n * d)
  const u = new Float32Array(n * d)
  for (let i = 0; i < n * d; i++) {
    const ti = t[Math.floor(i / d)]
    xt[i] = (1 - (1 - sigmaMin) * ti) * x0[i] + ti * x1[i]
    u[i] = x1[i] - (1 - sigmaMin) * x0[i]
  }
  return { t, x0, xt, u }
}

// -------------------------------------------------------------------------------------
// bench
// -------------------------------------------------------------------------------------

/**
 * Measures the training sides for model `m` (the initial weights of every training and the
 * weights of the energy), logging as it goes, and returns the figures.
 */
export const trainingBench = async (
  m: Mlp,
  torch: TorchGenerator | string,
  opt: TrainingBenchOptions,
  log: (s: string) => void,
): Promise<TrainingReport> => {
  const spec = m.spec
  const d = spec.dim
  const skipped: Record<string, string> = {}
  const data = sampleRing(core('simd'), 1, N)
  const scale = N / BATCH
  const variants = relaxedSimdSupported() ? (['simd', 'relaxed'] as const) : (['simd'] as const)
  if (!relaxedSimdSupported()) skipped['wasm-relaxed'] = 'this runtime lacks relaxed SIMD'
  const auto = variants[variants.length - 1]

  log('')
  log(
    `training: paper model (${parameterCount(spec)} parameters), Gamma ring N = ${N}, batch ${BATCH}, ` +
      `${PER_EPOCH} batches per epoch; energy RK4 ${ENERGY_STEPS} steps, scale N/B = ${scale}; ` +
      `${opt.rounds} interleaved round(s)`,
  )
  log('setting up and warming up…')

  const cfmSides: Side[] = []
  const vibSides: Side[] = []
  const energySides: Side[] = []
  for (const v of variants) {
    const c = core(v)
    // ---- CFM: whole trainCfm calls of `epochs` epochs, per step ----
    const cfm = (epochs: number): number => {
      const start = process.hrtime.bigint()
      trainCfm(c, { spec, data, epochs, seed: 7, init: m })
      return seconds(start) / (epochs * PER_EPOCH)
    }
    cfm(3)
    const cfmEpochs = units(opt.target, cfm(2) * PER_EPOCH, 2)
    cfmSides.push({ key: `cfm-wasm-${v}`, label: `WASM ${v}`, measure: async () => 1e3 * cfm(cfmEpochs) })

    // ---- VIB: trainVib without early stopping or posterior draws, per step ----
    if (v === auto) {
      for (const estimator of ['local', 'flipout'] as const) {
        const vib = (epochs: number): number => {
          const start = process.hrtime.bigint()
          trainVib(c, { spec, data, epochs, seed: 7, init: m, draws: 0, estimator, stop: { minEpochs: Number.MAX_SAFE_INTEGER } })
          return seconds(start) / (epochs * PER_EPOCH)
        }
        vib(2)
        const vibEpochs = units(opt.target, vib(2) * PER_EPOCH, 2)
        const key = estimator === 'local' ? `vib-wasm-${v}` : `vib-flipout-wasm-${v}`
        vibSides.push({ key, label: `WASM ${v}, ${estimator === 'local' ? 'local reparam.' : 'flipout'}`, measure: async () => 1e3 * vib(vibEpochs) })
      }
    }

    // ---- energy: the AdamMCMC energy callback, one minibatch per iteration ----
    const energy = mcmcEnergy(c, {
      spec,
      data,
      batchSize: BATCH,
      batchesPerEpoch: PER_EPOCH,
      seed: 7,
      solver: { kind: 'rk4', steps: ENERGY_STEPS },
    })
    let iteration = 0
    const evals = (reps: number): number => {
      const start = process.hrtime.bigint()
      for (let r = 0; r < reps; r++) energy(m.params, iteration++)
      return seconds(start) / reps
    }
    evals(1)
    const energyReps = units(opt.target, evals(1))
    energySides.push({ key: `energy-wasm-${v}`, label: `WASM ${v}`, measure: async () => 1e3 * evals(energyReps) })
  }

  const cpuPerWall: number[] = []
  if (typeof torch === 'string') skipped.torch = torch
  else {
    await torch.loadData(data, N)
    await torch.cfm(3, BATCH, PER_EPOCH) // warm-up, as ref.py: 30 steps
    const probe = await torch.cfm(2, BATCH, PER_EPOCH)
    const cfmEpochs = units(opt.target, probe.seconds / 2, 2)
    cfmSides.push({
      key: 'cfm-torch',
      label: `PyTorch ${torch.info.torch}`,
      measure: async () => {
        const r = await torch.cfm(cfmEpochs, BATCH, PER_EPOCH)
        cpuPerWall.push(r.cpu / r.seconds)
        return (1e3 * r.seconds) / r.steps
      },
    })
    await torch.energy(1, BATCH, ENERGY_STEPS, scale)
    const e = await torch.energy(1, BATCH, ENERGY_STEPS, scale)
    const energyReps = units(opt.target, e.seconds)
    energySides.push({
      key: 'energy-torch',
      label: `PyTorch ${torch.info.torch}`,
      measure: async () => {
        const r = await torch.energy(energyReps, BATCH, ENERGY_STEPS, scale)
        cpuPerWall.push(r.cpu / r.seconds)
        return (1e3 * r.seconds) / energyReps
      },
    })
  }

  // ---- agreement with PyTorch on the same inputs ----
  const agreement: Record<string, number> = {}
  if (typeof torch !== 'string') {
    const n = 256
    const x1 = data.subarray(0, n * d)
    const sigmaMin = 1e-4
    const dr = cfmDraws(x1, n, d, sigmaMin)
    const theirs = await torch.cfmCheck(dr.t, dr.x0, x1, sigmaMin)
    const theirsE = await torch.energyCheck(x1, n, ENERGY_STEPS, scale)
    for (const v of variants) {
      const ours = cfmLossGrad(core(v), m, dr.t, dr.xt, dr.u)
      agreement[`cfm-loss-${v}`] = Math.abs(ours.loss - theirs.value) / Math.abs(theirs.value)
      agreement[`cfm-grad-${v}`] = relativeMaxDiff(ours.grad, theirs.grad)
      const e = energyGrad(core(v), m, x1, { solver: 'rk4', steps: ENERGY_STEPS }, scale)
      agreement[`energy-${v}`] = Math.abs(e.energy - theirsE.value) / Math.abs(theirsE.value)
      agreement[`energy-grad-${v}`] = relativeMaxDiff(e.grad, theirsE.grad)
    }
  }

  // ---- rounds ----
  const sides = [...cfmSides, ...vibSides, ...energySides]
  const samples = new Map<string, number[]>(sides.map((s) => [s.key, []]))
  const t0 = process.hrtime.bigint()
  for (let r = 0; r < opt.rounds; r++) {
    for (const s of sides) samples.get(s.key)!.push(await s.measure())
    log(`  round ${r + 1}/${opt.rounds} done (${seconds(t0).toFixed(0)} s)`)
  }

  // ---- report ----
  const ms = Object.fromEntries([...samples].map(([k, xs]) => [k, summarize(xs)]))
  const f = (s: Summary, digits: number): string =>
    s.samples.length === 1
      ? s.median.toFixed(digits)
      : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)} – ${s.max.toFixed(digits)})`
  const table = (title: string, group: Side[], digits: number, perSecond: boolean) => {
    log(title)
    for (const s of group) {
      const q = ms[s.key]
      const rate = perSecond ? `${f(q, digits).padEnd(28)}   ${(1e3 / q.median).toFixed(0)} steps/s` : f(q, digits)
      log(`  ${s.label.padEnd(34)} ${rate}`)
    }
  }
  log('')
  table(`CFM training step, batch ${BATCH}, ms/step (median over rounds, min – max)`, cfmSides, 3, true)
  table(`VIB training step, batch ${BATCH}, ms/step`, vibSides, 3, true)
  table(`AdamMCMC energy and gradient, batch ${BATCH}, RK4 ${ENERGY_STEPS} steps, ms/evaluation`, energySides, 1, false)
  for (const [k, why] of Object.entries(skipped)) log(`  ${k.padEnd(34)} skipped: ${why}`)
  const torchCpuPerWall = cpuPerWall.length > 0 ? summarize(cpuPerWall) : undefined
  if (typeof torch !== 'string' && torchCpuPerWall !== undefined)
    log(
      `  (PyTorch: ${torch.info.threads} thread, BLAS ${torch.info.blas.join(', ') || 'unknown'}; ` +
        `CPU/wall time ${torchCpuPerWall.median.toFixed(2)}, ≈ 1 means one core)`,
    )

  const perRound = (a: string, b: string): Summary | undefined => {
    const xa = samples.get(a)
    const xb = samples.get(b)
    if (xa === undefined || xb === undefined) return undefined
    return summarize(xa.map((x, i) => x / xb[i]))
  }
  const ratios: Record<string, Summary> = {}
  const rows: Array<[string, string, string, string]> = [
    ...variants.map((v): [string, string, string, string] => [
      `cfm torch/wasm-${v}`,
      'cfm-torch',
      `cfm-wasm-${v}`,
      v === auto ? 'aim ≥ 3×' : '',
    ]),
    ...variants.map((v): [string, string, string, string] => [
      `energy torch/wasm-${v}`,
      'energy-torch',
      `energy-wasm-${v}`,
      v === auto ? 'aim ≥ 2×' : '',
    ]),
    [`vib/cfm wasm-${auto}`, `vib-wasm-${auto}`, `cfm-wasm-${auto}`, 'about 2× expected'],
    [`vib-flipout/cfm wasm-${auto}`, `vib-flipout-wasm-${auto}`, `cfm-wasm-${auto}`, 'about 2× expected'],
  ]
  log('')
  log('per-round ratios of ms/step: PyTorch over WASM = how many times faster WASM is (median, min – max)')
  for (const [name, a, b, note] of rows) {
    const q = perRound(a, b)
    if (q === undefined) continue
    ratios[name] = q
    log(`  ${name.padEnd(34)} ${note === '' ? f(q, 2) : `${f(q, 2).padEnd(28)} ${note}`}`)
  }
  if (Object.keys(agreement).length > 0) {
    log('')
    log(
      'agreement with PyTorch, 256 ring points: relative |Δ| of the value, max |Δ| / max |·| of the gradient ' +
        '(f32 summation order only, ≲ 1e-5 for CFM, ≲ 1e-4 for the energy through 32 stages)',
    )
    for (const [k, v] of Object.entries(agreement)) log(`  ${k.padEnd(34)} ${v.toExponential(1)}`)
  }
  return {
    data: { points: N, batch: BATCH, batchesPerEpoch: PER_EPOCH },
    energy: { solver: 'rk4', steps: ENERGY_STEPS, scale },
    ms,
    ratios,
    torchCpuPerWall,
    agreement,
    skipped,
  }
}
