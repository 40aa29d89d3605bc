/**
 * A generation worker thread: holds one WASM core and one `ChunkRunner`, runs the chunks the main
 * thread hands it, and returns its counts when told to finish. Started through
 * shared/generate/boot.mjs, which registers the TypeScript loader first.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Core, type Variant } from '../core/wasm.ts'
import { mlp, type MlpSpec } from '../model/spec.ts'
import type { Chunk, GenerationPlan } from './plan.ts'
import { ChunkRunner } from './runner.ts'

export interface WorkerInit {
  readonly variant: Variant
  readonly spec: MlpSpec
  readonly params: Float32Array
  readonly plan: GenerationPlan
  readonly keepPoints: boolean
}

export type ToWorker = { readonly type: 'chunk'; readonly chunk: Chunk } | { readonly type: 'finish' }

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly result: import('./runner.ts').ChunkResult }
  | { readonly type: 'counts'; readonly counts: Float64Array[]; readonly invalid: number[] }
  | { readonly type: 'error'; readonly message: string }

const port = parentPort
if (port === null) throw new Error('shared/generate/worker.ts must run in a worker thread')

const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer)

try {
  const init = (workerData as { init: WorkerInit }).init
  const runner = new ChunkRunner(new Core(init.variant), mlp(init.spec, init.params), init.plan, init.keepPoints)
  port.on('message', (m: ToWorker) => {
    try {
      if (m.type === 'chunk') {
        const result = runner.run(m.chunk)
        post({ type: 'done', result }, result.points ? [result.points.buffer as ArrayBuffer] : [])
      } else {
        post({ type: 'counts', counts: runner.counts(), invalid: runner.invalid() })
      }
    } catch (e) {
      post({ type: 'error', message: e instanceof Error ? e.message : String(e) })
    }
  })
  post({ type: 'ready' })
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? e.message : String(e) })
}
