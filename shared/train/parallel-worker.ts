/**
 * A worker thread of a ChunkedGradient (parallel.ts): loads its own core, says it is ready, then
 * loops without returning to its event loop: waits on the generation counter, reads the request
 * from its channel (receiveMessageOnPort), computes its chunks into the shared output, reports a
 * failure on the channel, and counts itself done. Stops when the STOP word is set.
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import { Core, type Variant } from '../core/wasm.ts'
import { type ChunkRequest, ChunkRunner, describeError } from './parallel.ts'

const GEN = 0
const DONE = 1
const STOP = 2

interface Init {
  readonly thread: number
  readonly variant: Variant
  readonly ctrl: SharedArrayBuffer
  readonly port: MessagePort
}

interface Message {
  readonly request: ChunkRequest
  readonly input?: SharedArrayBuffer
  readonly output?: SharedArrayBuffer
}

const init = workerData as Init
const ctrl = new Int32Array(init.ctrl)
let runner: ChunkRunner
try {
  runner = new ChunkRunner(new Core(init.variant))
} catch (e) {
  parentPort!.postMessage({ error: describeError(e) })
  throw e
}
// read the counter before saying ready: the first request may move it as soon as we have
let seen = Atomics.load(ctrl, GEN)
parentPort!.postMessage({ ready: true })

/** The request of generation `gen`: posted before the counter moved, so it is there; wait briefly if not. */
const nextMessage = (): Message | undefined => {
  for (let tries = 0; tries < 1000; tries++) {
    const m = receiveMessageOnPort(init.port)
    if (m !== undefined) return m.message as Message
    Atomics.wait(ctrl, STOP, 0, 1)
  }
  return undefined
}

let input: SharedArrayBuffer | undefined
let output: SharedArrayBuffer | undefined
for (;;) {
  Atomics.wait(ctrl, GEN, seen)
  seen = Atomics.load(ctrl, GEN)
  if (Atomics.load(ctrl, STOP) !== 0) break
  const m = nextMessage()
  let failure: { chunk: number; error: unknown } | undefined
  if (m === undefined) failure = { chunk: -1, error: new Error('no request arrived with the wake-up') }
  else {
    input = m.input ?? input
    output = m.output ?? output
    const r = m.request
    if (input === undefined || output === undefined) failure = { chunk: -1, error: new Error('no shared buffers were sent') }
    else
      failure = runner.run(
        r,
        init.thread,
        new Float32Array(input, 0, r.nParams + r.arrays.reduce((s, [, rows]) => s + rows * r.B, 0)),
        new Float64Array(output, 0, r.chunks),
        new Float32Array(output, 8 * r.chunks, r.chunks * r.G),
      )
  }
  if (failure !== undefined) init.port.postMessage({ chunk: failure.chunk, error: describeError(failure.error) })
  Atomics.add(ctrl, DONE, 1)
  Atomics.notify(ctrl, DONE)
}
init.port.close()
