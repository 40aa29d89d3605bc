/**
 * A worker thread of the local runner: runs training and generation stages handed to it by the
 * main thread, each against its own view of the object store and its own WASM core. Started
 * through shared/generate/boot.mjs (which registers the TypeScript loader).
 */
import { parentPort, workerData } from 'node:worker_threads'
import * as E from 'fp-ts/lib/Either.js'
import type { Experiment } from '../config/experiment.ts'
import { Core } from '../core/wasm.ts'
import { envStoreOptions, openStore } from '../store/open.ts'
import type { GenerationItem, TrainingJob } from './keys.ts'
import { describe } from './errors.ts'
import { generateStage, trainStage } from './stages.ts'

export interface TaskWorkerInit {
  readonly store: string
  readonly experiment: Experiment
  readonly run: string
}

export type Task = { readonly kind: 'train'; readonly job: TrainingJob } | { readonly kind: 'generate'; readonly item: GenerationItem }

export type FromTaskWorker =
  | { readonly type: 'progress'; readonly epoch: number; readonly epochs: number; readonly loss: number; readonly phase: string; readonly acceptance?: number }
  | { readonly type: 'done'; readonly skipped: boolean; readonly seconds: number }
  | { readonly type: 'failed'; readonly message: string; readonly exitCode: number }

const port = parentPort
if (port === null) throw new Error('shared/pipeline/task-worker.ts must run in a worker thread')
const init = (workerData as { init: TaskWorkerInit }).init
const opened = openStore(init.store, envStoreOptions())
const core = new Core()

port.on('message', async (task: Task) => {
  if (E.isLeft(opened)) return port.postMessage({ type: 'failed', message: opened.left.message, exitCode: 2 } satisfies FromTaskWorker)
  const store = opened.right
  const result =
    task.kind === 'train'
      ? await trainStage(store, core, init.experiment, init.run, task.job, (p) => port.postMessage({ type: 'progress', ...p } satisfies FromTaskWorker))()
      : await generateStage(store, init.experiment, task.item, { workers: 0 })()
  port.postMessage(
    (E.isLeft(result)
      ? { type: 'failed', message: describe(result.left), exitCode: 1 }
      : { type: 'done', ...result.right }) satisfies FromTaskWorker,
  )
})
