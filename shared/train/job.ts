/**
 * One training of an experiment: a (method, hyperparameter, seed) job → its posterior samples.
 *
 * The training set is drawn with the job's seed (an independent training set per seed, as in the
 * paper's section 4.1). Both methods start from a CFM fit (`pretrainEpochs`); VIB then fits the
 * mean-field posterior and draws `draws` weight sets; AdamMCMC runs a chain on the CNF negative
 * log-likelihood of the training set and keeps a sample every `thinning` epochs.
 *
 * `threads` splits every batch's loss and gradient across that many threads (parallel.ts); the
 * batches are cut into `chunks` chunks whatever `threads` is, so the posterior does not depend on it.
 */
import type { Experiment } from '../config/experiment.ts'
import type { Core } from '../core/wasm.ts'
import { type DataSource, type Dataset, loadDataset } from '../data/dataset.ts'
import { GAMMA_RATE, GAMMA_SHAPE, RING_RADIUS } from '../data/gamma-ring.ts'
import { type Mlp, mlp, parameterCount } from '../model/spec.ts'
import type { TrainingJob } from '../pipeline/keys.ts'
import { paperSigmaDelta, runAdamMcmc } from './adam-mcmc.ts'
import { trainCfm } from './cfm.ts'
import { mcmcEnergy } from './mcmc-energy.ts'
import { ChunkedGradient } from './parallel.ts'
import type { TrainedPosterior } from './posterior.ts'
import { trainVib } from './vib.ts'

export interface JobProgress {
  readonly phase: 'pretrain' | 'vib' | 'mcmc'
  readonly epoch: number
  readonly epochs: number
  readonly loss: number
  /** AdamMCMC: acceptance rate of the last stretch. */
  readonly acceptance?: number
}

/** The experiment's data source, refusing ring parameters the exact density does not describe. */
export const dataSource = (x: Experiment): DataSource => {
  const d = x.data
  if (d.kind === 'npy') return { kind: 'npy', path: d.path }
  if (d.alpha !== GAMMA_SHAPE || d.rate !== GAMMA_RATE || d.shift !== RING_RADIUS)
    throw new RangeError(
      `data: the Gamma ring is implemented for alpha ${GAMMA_SHAPE}, rate ${GAMMA_RATE}, shift ${RING_RADIUS} (its quantile grids and exact density); got alpha ${d.alpha}, rate ${d.rate}, shift ${d.shift}`,
    )
  return { kind: 'gamma-ring' }
}

export interface TrainJobOptions {
  /** Threads per batch, this one included. @default 1 */
  readonly threads?: number
  /** Chunks per batch (the results depend on it, not on `threads`). @default DEFAULT_CHUNKS */
  readonly chunks?: number
}

export const trainJob = async (
  core: Core,
  x: Experiment,
  job: TrainingJob,
  onProgress: (p: JobProgress) => void = () => {},
  options: TrainJobOptions = {},
): Promise<TrainedPosterior> => {
  const parallel = await ChunkedGradient.start({ ...options, variant: core.variant })
  try {
    return await trainWith(core, x, job, onProgress, parallel)
  } finally {
    await parallel.close()
  }
}

/** The CFM-loss batch settings of an experiment's trainings, on one training set. */
export const batchOptions = (x: Experiment, data: Dataset, seed: number, parallel?: ChunkedGradient) => ({
  spec: x.model,
  data: data.points,
  batchSize: Math.min(x.training.batchSize, data.n),
  batchesPerEpoch: x.training.batchesPerEpoch,
  lr: x.training.lr,
  optimizer: x.training.optimizer,
  sigmaMin: x.training.sigmaMin,
  seed,
  parallel,
})

const trainWith = async (
  core: Core,
  x: Experiment,
  job: TrainingJob,
  onProgress: (p: JobProgress) => void,
  parallel: ChunkedGradient,
): Promise<TrainedPosterior> => {
  const started = performance.now()
  const data = await loadDataset(core, dataSource(x), x.trainingSize, job.seed)
  if (data.d !== x.model.dim) throw new RangeError(`model.dim is ${x.model.dim}, the training set has dimension ${data.d}`)
  const t = x.training
  const common = batchOptions(x, data, job.seed, parallel)
  const spec = job.method === 'vib' ? x.methods.vib : x.methods.mcmc
  if (spec === undefined) throw new RangeError(`methods.${job.method}: not configured, but a ${job.method} job was planned`)
  const notes: string[] = []

  let init: Mlp | undefined
  const pretrainLosses: number[] = []
  if (spec.pretrainEpochs > 0) {
    const r = trainCfm(core, {
      ...common,
      epochs: spec.pretrainEpochs,
      onEpoch: (e) => onProgress({ phase: 'pretrain', epoch: e.epoch + 1, epochs: spec.pretrainEpochs, loss: e.loss }),
    })
    init = r.model
    pretrainLosses.push(...r.losses)
    notes.push(`CFM pretraining: ${spec.pretrainEpochs} epochs, final loss ${r.losses.at(-1)?.toPrecision(5)}, ${r.skipped} non-finite steps`)
  }
  const base = { seed: job.seed, data: { source: data.source, points: data.points, n: data.n, d: data.d } }

  if (job.method === 'vib') {
    const v = x.methods.vib!
    const r = trainVib(core, {
      ...common,
      epochs: v.maxEpochs,
      k: job.value,
      klNormalization: v.klNormalization,
      estimator: v.estimator,
      priorScale: v.priorScale,
      rhoInit: v.rhoInit,
      init,
      draws: v.draws,
      stop: v.stop,
      onEpoch: (e) => onProgress({ phase: 'vib', epoch: e.epoch + 1, epochs: v.maxEpochs, loss: e.loss }),
    })
    notes.push(r.converged ? `KL converged; stopped after epoch ${r.stoppedAt}` : `KL not converged within ${v.maxEpochs} epochs`)
    return {
      method: 'vib',
      hyperparameters: { k: job.value, klNormalization: v.klNormalization, estimator: v.estimator, priorScale: v.priorScale, rhoInit: v.rhoInit, draws: v.draws, pretrainEpochs: v.pretrainEpochs },
      ...base,
      samples: r.samples,
      epochs: r.losses.length,
      loss: r.losses,
      kl: r.kl,
      nonFiniteSteps: r.skipped,
      wallSeconds: (performance.now() - started) / 1000,
      compute: parallel.compute,
      notes,
    }
  }

  const m = x.methods.mcmc!
  if (init === undefined) throw new RangeError('methods.mcmc.pretrainEpochs: AdamMCMC starts from a CFM-pretrained model; set it above 0')
  const energy = mcmcEnergy(core, {
    spec: x.model,
    data: data.points,
    batchSize: common.batchSize,
    batchesPerEpoch: t.batchesPerEpoch,
    seed: job.seed,
    solver: m.solver,
    parallel,
  })
  const iterationsPerEpoch = t.batchesPerEpoch
  const sigmaDelta = m.sigmaDelta ?? paperSigmaDelta(parameterCount(x.model))
  const losses: number[] = []
  const r = runAdamMcmc(core, {
    theta0: init.params,
    energy,
    // a minibatch energy: θ is re-scored on every iteration's batch, so that U(τ) − U(θ) compares
    // the two points on the same data (not two batches' noise, hundreds of nats at N/B = 10)
    stochastic: true,
    lr: m.lr ?? t.lr,
    betas: [t.optimizer.beta1, t.optimizer.beta2],
    eps: t.optimizer.eps,
    sigma: job.value,
    sigmaDelta,
    lambda: m.lambda,
    seed: job.seed,
    thinning: m.thinning * iterationsPerEpoch,
    samples: m.samples,
    burnIn: m.burnIn * iterationsPerEpoch,
    adaptation: m.adaptation,
    onStretch: (s) => {
      losses.push(s.energy)
      onProgress({ phase: 'mcmc', epoch: (s.index + 1) * m.thinning, epochs: m.samples * m.thinning, loss: s.energy, acceptance: s.acceptance })
    },
  })
  notes.push(`AdamMCMC: acceptance per stretch ${r.acceptance.map((a) => a.toFixed(3)).join(', ')}; optimizer adaptation '${m.adaptation}'`)
  return {
    method: 'mcmc',
    hyperparameters: {
      sigma: job.value,
      sigmaDelta,
      lambda: m.lambda,
      lr: m.lr ?? t.lr,
      thinning: m.thinning,
      samples: m.samples,
      burnIn: m.burnIn,
      pretrainEpochs: m.pretrainEpochs,
      solver: m.solver,
      adaptation: m.adaptation,
    },
    ...base,
    samples: r.samples.map((p) => mlp(x.model, p)),
    epochs: spec.pretrainEpochs + m.burnIn + m.samples * m.thinning,
    loss: [...pretrainLosses, ...losses],
    acceptance: r.acceptance,
    nonFiniteSteps: 0,
    wallSeconds: (performance.now() - started) / 1000,
    compute: parallel.compute,
    notes,
  }
}
