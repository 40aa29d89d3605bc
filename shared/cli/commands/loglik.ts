/** `bayesamp loglik`: the mean log-likelihood (and its standard error) of points under a CNF. */
import { core } from '../../core/wasm.ts'
import { datasetProblem } from '../../data/dataset.ts'
import { readNpy } from '../../io/npy.ts'
import { describeLoad, loadField } from '../../model/load.ts'
import { type LoglikOptions, meanLogLik } from '../../train/loglik.ts'
import type { Logger } from '../logger.ts'

export const loglik = async (
  modelPath: string,
  dataPath: string,
  opts: LoglikOptions,
  log: Logger,
): Promise<{ mean: number; stderr: number; n: number }> => {
  const loaded = await loadField(modelPath)
  log.info(describeLoad(loaded))
  if (loaded.kind !== 'mlp')
    throw new Error(`${modelPath}: the log-likelihood needs the field's derivatives, which only the WASM kernel of the MLP family provides (${loaded.reason})`)
  const a = await readNpy(dataPath)
  const problem = datasetProblem(a)
  if (problem !== undefined) throw new Error(`${dataPath}: ${problem}`)
  if (a.shape[1] !== loaded.model.spec.dim) throw new Error(`${dataPath}: points have ${a.shape[1]} coordinates, the model takes ${loaded.model.spec.dim}`)
  return meanLogLik(core(), loaded.model, a.data as Float32Array | Float64Array, opts)
}
