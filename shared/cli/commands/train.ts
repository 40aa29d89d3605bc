/**
 * `bayesamp train`: one training of an experiment config, written to a folder as the pipeline
 * writes it (posterior/sample-<i>.onnx, posterior/manifest.json last, the training set as .npy).
 * `--method cfm` fits a plain CFM model (one sample) — the pretraining both Bayesian methods start from.
 * `--threads N` splits each batch across N threads; the trained weights do not depend on N.
 */
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { readExperiment } from '../../config/experiment.ts'
import { core } from '../../core/wasm.ts'
import { loadDataset } from '../../data/dataset.ts'
import { writeFileAtomic } from '../../io/atomic.ts'
import { describe } from '../../pipeline/errors.ts'
import { groupName } from '../../pipeline/keys.ts'
import { type CfmResult, trainCfm } from '../../train/cfm.ts'
import { batchOptions, dataSource, trainJob } from '../../train/job.ts'
import { ChunkedGradient } from '../../train/parallel.ts'
import { type TrainedPosterior, posteriorFiles } from '../../train/posterior.ts'
import type { Logger } from '../logger.ts'
import { Progress } from '../progress.ts'

export interface TrainCommand {
  readonly config: string
  readonly method: 'cfm' | 'vib' | 'mcmc'
  readonly seed: number
  readonly out: string
  /** VIB k or AdamMCMC σ; default: the first of the config's list. */
  readonly value?: number
  /** CFM only. */
  readonly epochs?: number
  /** Threads per batch, this one included. @default 1 */
  readonly threads?: number
}

export const train = async (cmd: TrainCommand, log: Logger): Promise<TrainedPosterior> => {
  const decoded = await readExperiment(cmd.config)()
  if (E.isLeft(decoded)) throw new Error(describe(decoded.left))
  const x = decoded.right
  const c = core()
  const bar = new Progress('train', 'epochs')
  let posterior: TrainedPosterior
  try {
    if (cmd.method === 'cfm') {
      const epochs = cmd.epochs ?? 2500
      const started = performance.now()
      const data = await loadDataset(c, dataSource(x), x.trainingSize, cmd.seed)
      const t = x.training
      const parallel = await ChunkedGradient.start({ threads: cmd.threads, variant: c.variant })
      const compute = parallel.compute
      let r: CfmResult
      try {
        r = trainCfm(c, {
          ...batchOptions(x, data, cmd.seed, parallel),
          epochs,
          onEpoch: (e) => bar.update(e.epoch + 1, epochs, `loss ${e.loss.toPrecision(4)}`),
        })
      } finally {
        await parallel.close()
      }
      posterior = {
        method: 'cfm',
        hyperparameters: { epochs, lr: t.lr, batchSize: t.batchSize, batchesPerEpoch: t.batchesPerEpoch, sigmaMin: t.sigmaMin },
        seed: cmd.seed,
        data: { source: data.source, points: data.points, n: data.n, d: data.d },
        samples: [r.model],
        epochs,
        loss: r.losses,
        nonFiniteSteps: r.skipped,
        wallSeconds: (performance.now() - started) / 1000,
        compute,
      }
    } else {
      const list = cmd.method === 'vib' ? x.methods.vib?.k : x.methods.mcmc?.sigma
      if (list === undefined) throw new RangeError(`${cmd.config}: methods.${cmd.method} is not configured`)
      const value = cmd.value ?? list[0]
      const hyperparameter = cmd.method === 'vib' ? 'k' : 'sigma'
      const group = groupName(cmd.method, value)
      const samples = cmd.method === 'vib' ? x.methods.vib!.draws : x.methods.mcmc!.samples
      posterior = await trainJob(
        c,
        x,
        { group, method: cmd.method, hyperparameter, value, seed: cmd.seed, samples, manifestKey: '' },
        (p) => bar.update(p.epoch, p.epochs, `${p.phase} loss ${p.loss.toPrecision(4)}${p.acceptance === undefined ? '' : ` acceptance ${p.acceptance.toFixed(2)}`}`),
        { threads: cmd.threads },
      )
    }
  } finally {
    bar.done()
  }
  for (const [name, bytes] of posteriorFiles(posterior)) await writeFileAtomic(join(cmd.out, name), bytes)
  log.info(
    `${cmd.method}: ${posterior.samples.length} sample(s) in ${posterior.wallSeconds.toFixed(1)} s → ${join(cmd.out, 'posterior')}` +
      (posterior.acceptance ? `; acceptance ${posterior.acceptance.map((a) => a.toFixed(2)).join(' ')}` : ''),
  )
  return posterior
}
