/**
 * A batch's loss and gradient split across threads, with results that do not depend on the number
 * of threads (`bayesamp train --threads N`).
 *
 * The batch of B points is cut into C chunks (C fixed by the caller, `DEFAULT_CHUNKS` by default,
 * never more than B): chunk c holds points [⌊cB/C⌋, ⌊(c+1)B/C⌋). Chunk c is computed by thread
 * c mod N (thread 0 is the calling thread, threads 1 … N−1 are worker threads, each with its own
 * instance of the WASM core of the same variant), by the same kernel on the same inputs, so its
 * result is the same bit for bit whichever thread computes it. The chunk results are then summed
 * in chunk order, in f64, by the calling thread:
 *
 *   value = Σ_c w_c·value_c,  grad_k = fround(Σ_c w_c·grad_c,k),  c = 0, 1, …, C−1,
 *
 * with w_c = n_c/B for the CFM and VIB losses (their kernels return the mean over the chunk's
 * n_c points and its gradient, so the weighted sum is the mean over the batch) and w_c = 1 for
 * the AdamMCMC energy (its kernel returns scale·Σ −log p, every chunk with the same scale N/B).
 * The sum therefore depends on C, never on N; with N = 1 the same chunks run one after the other
 * in the calling thread. Against the unchunked kernel (C = 1) it differs only by rounding: the
 * kernels accumulate in f32 lanes per chunk instead of per batch.
 *
 * Protocol (the training loops are synchronous, so the calling thread blocks instead of awaiting):
 * the inputs are written into a SharedArrayBuffer, each worker gets a small request through its
 * own MessageChannel, and is woken by Atomics.notify on a generation counter; it reads the request
 * with receiveMessageOnPort, computes its chunks into per-chunk slots of a shared output buffer,
 * posts an error message if one failed, and counts itself done. The calling thread computes its
 * own chunks meanwhile, then Atomics.wait()s for the others and sums. Workers are unref'd (an
 * unclosed ChunkedGradient does not keep the process alive); `close()` stops and terminates them.
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads'
import { Core, type Variant } from '../core/wasm.ts'
import { type MlpSpec, parameterCount } from '../model/spec.ts'
import type { Compute } from './posterior.ts'
import { type TrainKernels, trainDescriptor, trainKernels } from './backprop.ts'
import { type LoglikOptions, energyScratchBytes, loglikKernels, loglikOptionsProblem, solverCode } from './loglik.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Chunks per batch when none is given. */
export const DEFAULT_CHUNKS = 8

export interface ChunkedGradientOptions {
  /** Threads computing chunks, the calling thread included (1: no worker threads). @default 1 */
  readonly threads?: number
  /** Chunks per batch; the results depend on it, not on `threads`. @default DEFAULT_CHUNKS */
  readonly chunks?: number
  /** Core variant of every thread; use the training's (`core.variant`). @default 'auto' */
  readonly variant?: Variant | 'auto'
}

/** Counter-based noise of a VIB batch: point p of the batch uses point `start + p` of `stream` under `seed`. */
export interface VibNoise {
  readonly seed: number
  readonly stream: number
  readonly start: number
}

type Kind = 'cfm' | 'vib' | 'flipout' | 'energy'

/** One batch's job, as every thread sees it (structured-cloned to workers). */
export interface ChunkRequest {
  readonly kind: Kind
  /** Model descriptor (trainDescriptor). */
  readonly desc: Int32Array
  /** Points in the batch. */
  readonly B: number
  /** Chunks in the batch (≤ B). */
  readonly chunks: number
  /** Threads sharing the chunks: thread i computes the chunks c ≡ i (mod threads). */
  readonly threads: number
  /** Floats of the parameter section at the start of the input (P; 3P for VIB's μ, a, chain). */
  readonly nParams: number
  /** Floats per chunk gradient (P, or 2P for VIB's μ and ρ). */
  readonly G: number
  /** Offset (floats) and rows of each point array of the input, SoA [rows][B]. */
  readonly arrays: readonly (readonly [offset: number, rows: number])[]
  /** Energy only: solver code, steps, scale. */
  readonly solver: number
  readonly steps: number
  readonly scale: number
  /** VIB only. */
  readonly noise: VibNoise
}

/** Messages from a worker on its channel. */
interface WorkerFailure {
  readonly error: string
  readonly chunk: number
}

// control words (Int32Array over a SharedArrayBuffer)
const GEN = 0
const DONE = 1
const STOP = 2

// -------------------------------------------------------------------------------------
// kernels: one thread's share of a batch
// -------------------------------------------------------------------------------------

/** Points [start, start + n) of chunk c of a batch of B points cut into C chunks. */
export const chunkBounds = (B: number, C: number, c: number): { start: number; n: number } => {
  const start = Math.floor((c * B) / C)
  return { start, n: Math.floor(((c + 1) * B) / C) - start }
}

/**
 * Computes chunks of batches on its own core: reads the shared input, writes each chunk's value
 * (f64) and gradient (f32) into its slot of the output. The buffers in its core are laid out once
 * per (kind, model, solver, chunk size) and reused.
 */
export class ChunkRunner {
  private readonly core: Core
  private readonly train: TrainKernels
  private readonly base: number
  private key = ''
  private ptr = { desc: 0, params: 0, slots: 0, weights: 0, sum: 0, scratch: 0, eps: 0, arrays: [] as number[] }

  constructor(core: Core) {
    this.core = core
    this.train = trainKernels(core)
    this.base = core.exports.arenaMark()
  }

  private layout(r: ChunkRequest): void {
    const nmax = Math.ceil(r.B / r.chunks)
    const key = `${r.kind} ${r.desc.join(',')} ${r.solver} ${r.steps} ${nmax} ${r.chunks} ${r.arrays.map((a) => a[1]).join(',')}`
    if (key === this.key) return
    const c = this.core
    c.exports.arenaReset(this.base)
    this.key = ''
    const desc = c.putI32(r.desc)
    const P = trainKernels(c).paramCount(desc)
    // parameter section and gradient: [θ] and [θ] (CFM, energy); [μ | a | chain] and [μ | ρ] (VIB's
    // estimators, a and chain as vib_prepare forms them)
    const variational = r.kind === 'vib' || r.kind === 'flipout'
    if (r.nParams !== (variational ? 3 : 1) * P || r.G !== (variational ? 2 : 1) * P)
      throw new Error(`chunk request: ${r.nParams} parameter values for a model of ${P} parameters (${r.kind})`)
    const params = c.allocF32(r.nParams)
    // one gradient slot per chunk of the batch: the calling thread sums them where they are
    const slots = c.allocF32(r.chunks * r.G)
    const weights = c.allocF64(r.chunks)
    const sum = c.allocF32(r.G)
    const arrays = r.arrays.map(([, rows]) => c.allocF32(rows * nmax))
    let eps = 0
    let scratch: number
    if (r.kind === 'cfm') scratch = c.alloc(trainKernels(c).cfmScratchBytes(desc))
    else if (r.kind === 'vib') {
      eps = c.allocF32(c.fn<(d: number) => number>('vib_noise_rows')(desc) * nmax)
      scratch = c.alloc(c.fn<(d: number) => number>('vib_scratch_bytes')(desc))
    } else if (r.kind === 'flipout') {
      // the kernel draws the signs itself
      scratch = c.alloc(c.fn<(d: number) => number>('flipout_scratch_bytes')(desc))
    } else {
      const solver = (['euler', 'midpoint', 'rk4'] as const)[r.solver]
      scratch = c.alloc(energyScratchBytes(c, desc, { solver, steps: r.steps }))
    }
    this.ptr = { desc, params, slots, weights, sum, scratch, eps, arrays }
    this.key = key
  }

  /**
   * Computes the chunks c ≡ `thread` (mod r.threads) of the batch in `input` into their slots:
   * values to `values` ([chunks] f64), gradients to this core's slots and, when `grads` is given
   * (a worker thread), to theirs in `grads` ([chunks][G] f32). Returns undefined, or the failing
   * chunk and its error.
   */
  run(
    r: ChunkRequest,
    thread: number,
    input: Float32Array,
    values: Float64Array,
    grads?: Float32Array,
  ): { chunk: number; error: unknown } | undefined {
    let chunk = thread // a failure before the first chunk is reported as the first chunk's
    try {
      this.layout(r)
      const c = this.core
      const p = this.ptr
      c.f32(p.params, r.nParams).set(input.subarray(0, r.nParams))
      for (chunk = thread; chunk < r.chunks; chunk += r.threads) {
        const { start, n } = chunkBounds(r.B, r.chunks, chunk)
        const mem = c.f32(0, c.exports.memory.buffer.byteLength >> 2)
        r.arrays.forEach(([offset, rows], a) => {
          const dst = p.arrays[a] >> 2
          for (let j = 0; j < rows; j++) mem.set(input.subarray(offset + j * r.B + start, offset + j * r.B + start + n), dst + j * n)
        })
        const slot = p.slots + 4 * chunk * r.G
        values[chunk] = this.kernel(r, start, n, slot)
        if (grads !== undefined) grads.set(c.f32(slot, r.G), chunk * r.G)
      }
      return undefined
    } catch (error) {
      return { chunk, error }
    }
  }

  /**
   * The calling thread's last act on a batch after `run(r, 0, …)`: brings the other threads'
   * chunk gradients (from `grads`) into this core's slots and writes the ordered weighted sum
   * (module header, the core's chunk_sum) to `outs`, which split the G values between them in
   * order. Returns the summed value.
   */
  sum(r: ChunkRequest, values: Float64Array, grads: Float32Array, outs: readonly Float32Array[]): number {
    const c = this.core
    const p = this.ptr
    const slots = c.f32(p.slots, r.chunks * r.G)
    const w = c.f64(p.weights, r.chunks)
    let value = 0
    for (let k = 0; k < r.chunks; k++) {
      if (k % r.threads !== 0) slots.set(grads.subarray(k * r.G, (k + 1) * r.G), k * r.G)
      w[k] = r.kind === 'energy' ? 1 : chunkBounds(r.B, r.chunks, k).n / r.B
      value += w[k] * values[k]
    }
    this.train.chunkSum(p.slots, r.chunks, r.G, p.weights, p.sum)
    let at = p.sum
    for (const o of outs) {
      o.set(c.f32(at, o.length))
      at += 4 * o.length
    }
    return value
  }

  private kernel(r: ChunkRequest, start: number, n: number, grad: number): number {
    const c = this.core
    const p = this.ptr
    const [a0, a1, a2] = p.arrays
    if (r.kind === 'cfm') return this.train.cfmLossGrad(p.params, p.desc, a0, a1, a2, n, grad, p.scratch)
    if (r.kind === 'energy')
      return loglikKernels(c).energyGrad(p.params, p.desc, a0, n, r.solver, r.steps, r.scale, grad, 0, p.scratch)
    if (r.kind === 'flipout') {
      type FlipoutLossGrad = (...a: number[]) => number
      const { seed, stream } = r.noise
      return c.fn<FlipoutLossGrad>('flipout_loss_grad')(
        p.params,
        p.params + 2 * r.G,
        p.params + 4 * r.G,
        p.desc,
        a0,
        a1,
        a2,
        seed,
        stream,
        r.noise.start + start,
        n,
        grad,
        grad + 2 * r.G,
        p.scratch,
      )
    }
    const rows = c.fn<(d: number) => number>('vib_noise_rows')(p.desc)
    c.fn<(s: number, st: number, i: number, n: number, R: number, out: number) => void>('vib_noise')(
      r.noise.seed,
      r.noise.stream,
      r.noise.start + start,
      n,
      rows,
      p.eps,
    )
    type VibLossGrad = (...a: number[]) => number
    return c.fn<VibLossGrad>('vib_loss_grad')(
      p.params,
      p.params + 2 * r.G,
      p.params + 4 * r.G,
      p.desc,
      a0,
      a1,
      a2,
      p.eps,
      n,
      grad,
      grad + 2 * r.G,
      p.scratch,
    )
  }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const bootUrl = new URL('../generate/boot.mjs', import.meta.url)
const workerUrl = new URL('./parallel-worker.ts', import.meta.url).href

const countProblem = (what: string, x: number, min: number, max: number): string | undefined =>
  Number.isInteger(x) && x >= min && x <= max ? undefined : `${what} must be an integer from ${min} to ${max}, got ${x}`

/** The threads and chunks options, checked; a message naming the offending one, or undefined. */
export const parallelProblem = (o: ChunkedGradientOptions): string | undefined =>
  countProblem('threads', o.threads ?? 1, 0, 256) ?? countProblem('chunks', o.chunks ?? DEFAULT_CHUNKS, 1, 4096)

interface WorkerHandle {
  readonly worker: Worker
  readonly port: MessagePort
  /** Whether the worker has been sent the current shared buffers. */
  buffers: boolean
}

/**
 * Computes CFM, VIB and AdamMCMC-energy losses and gradients of batches chunk by chunk, on the
 * calling thread and `threads − 1` worker threads; see the module header for why the results do not
 * depend on `threads`. Create with `ChunkedGradient.start` (worker threads, async) or
 * `ChunkedGradient.inThread` (none, sync); use synchronously; `close()` when done.
 */
export class ChunkedGradient {
  /** Threads computing chunks, the calling thread included. */
  readonly threads: number
  /** Chunks per batch (fewer for a batch of fewer points). */
  readonly chunks: number
  /** The core variant of every thread. */
  readonly variant: Variant
  private readonly runner: ChunkRunner
  private readonly workers: WorkerHandle[]
  private readonly ctrl: Int32Array
  private inputBuf: ArrayBuffer | SharedArrayBuffer = new ArrayBuffer(0)
  private outputBuf: ArrayBuffer | SharedArrayBuffer = new ArrayBuffer(0)
  private closed = false
  private failure: string | undefined

  private constructor(threads: number, chunks: number, variant: Variant, workers: WorkerHandle[], ctrl: Int32Array) {
    this.threads = threads
    this.chunks = chunks
    this.variant = variant
    this.runner = new ChunkRunner(new Core(variant))
    this.workers = workers
    this.ctrl = ctrl
    for (const [i, w] of workers.entries()) {
      w.worker.on('error', (e) => (this.failure ??= `worker thread ${i + 1} crashed: ${e.message}`))
      w.worker.on('exit', (code) => {
        if (!this.closed) this.failure ??= `worker thread ${i + 1} exited (code ${code})`
      })
    }
  }

  /** What fixes the bits of the results (the core build and the chunks), and the threads used. */
  get compute(): Compute {
    return { core: this.variant === 'relaxed' ? 'wasm-relaxed' : 'wasm-simd', chunks: this.chunks, threads: this.threads }
  }

  /** No worker threads: every chunk runs in the calling thread, in chunk order. Needs no `close()`. */
  static inThread(o: Omit<ChunkedGradientOptions, 'threads'> = {}): ChunkedGradient {
    const problem = parallelProblem(o)
    if (problem !== undefined) throw new RangeError(`ChunkedGradient: ${problem}`)
    const variant = new Core(o.variant).variant
    return new ChunkedGradient(1, o.chunks ?? DEFAULT_CHUNKS, variant, [], new Int32Array(4))
  }

  /**
   * Starts `threads − 1` worker threads (each loads its own core) and resolves when all are ready;
   * rejects with an Error naming the thread that failed to start. `threads` ≤ 1 starts none.
   */
  static async start(o: ChunkedGradientOptions = {}): Promise<ChunkedGradient> {
    const problem = parallelProblem(o)
    if (problem !== undefined) throw new RangeError(`ChunkedGradient: ${problem}`)
    const chunks = o.chunks ?? DEFAULT_CHUNKS
    const threads = Math.max(1, Math.min(o.threads ?? 1, chunks))
    const variant = new Core(o.variant).variant
    if (threads === 1) return ChunkedGradient.inThread({ chunks, variant })
    const ctrl = new Int32Array(new SharedArrayBuffer(16))
    const handles: WorkerHandle[] = []
    const ready: Promise<void>[] = []
    for (let i = 1; i < threads; i++) {
      const { port1, port2 } = new MessageChannel()
      const worker = new Worker(bootUrl, {
        workerData: { entry: workerUrl, thread: i, variant, ctrl: ctrl.buffer, port: port2 },
        transferList: [port2],
      })
      handles.push({ worker, port: port1, buffers: false })
      ready.push(
        new Promise<void>((resolve, reject) => {
          const fail = (why: string) => reject(new Error(`ChunkedGradient: worker thread ${i} failed to start: ${why}`))
          worker.once('message', (m: { ready?: true; error?: string }) => (m.ready ? resolve() : fail(m.error ?? 'no reason given')))
          worker.once('error', (e) => fail(e.message))
          worker.once('exit', (code) => fail(`it exited with code ${code}`))
        }),
      )
    }
    try {
      await Promise.all(ready)
    } catch (e) {
      Atomics.store(ctrl, STOP, 1)
      await Promise.all(handles.map((h) => h.worker.terminate()))
      throw e
    }
    for (const h of handles) {
      h.worker.removeAllListeners()
      h.worker.unref()
    }
    return new ChunkedGradient(threads, chunks, variant, handles, ctrl)
  }

  // -------------------------------------------------------------------------------------
  // batches
  // -------------------------------------------------------------------------------------

  /**
   * CFM loss of a batch (mean over its points of ‖v − u‖², as cfm_loss_grad) and its gradient,
   * written to `grad` ([P] f32). `t` is [B], `xt` and `u` are SoA [d][B] (as trainCfm keeps them).
   */
  cfm(spec: MlpSpec, params: Float32Array, t: Float32Array, xt: Float32Array, u: Float32Array, grad: Float32Array): number {
    const B = t.length
    const d = spec.dim
    this.check(spec, [params], [grad], [xt, u], B, d)
    return this.batch('cfm', spec, B, [params], [t, xt, u], [1, d, d], [grad], {})
  }

  /**
   * VIB data term of a batch (mean over its points, as vib_loss_grad or flipout_loss_grad) and its
   * gradients with respect to μ and ρ, for the estimator `kind`: 'vib' is local reparameterization
   * (point p's noise is point `noise.start + p` of `noise.stream` under `noise.seed`, vib_noise),
   * 'flipout' flipout (point p's signs likewise, flipout_signs); each drawn by the thread that
   * computes its chunk. ρ enters as vib_prepare forms it for the estimator: `a` and `chain`
   * (vibPrepared in vib.ts; a training forms them in its KL pass).
   */
  variational(
    kind: 'vib' | 'flipout',
    spec: MlpSpec,
    mu: Float32Array,
    a: Float32Array,
    chain: Float32Array,
    t: Float32Array,
    xt: Float32Array,
    u: Float32Array,
    noise: VibNoise,
    gradMu: Float32Array,
    gradRho: Float32Array,
  ): number {
    const B = t.length
    const d = spec.dim
    this.check(spec, [mu, a, chain], [gradMu, gradRho], [xt, u], B, d)
    return this.batch(kind, spec, B, [mu, a, chain], [t, xt, u], [1, d, d], [gradMu, gradRho], { noise })
  }

  /**
   * AdamMCMC energy `scale·Σ_p −log p(x_p)` of a batch (SoA [d][B]) and its exact gradient, written
   * to `grad` ([P] f32), from loglik_energy_grad on each chunk with the same `scale`.
   */
  energy(spec: MlpSpec, params: Float32Array, x: Float32Array, opts: LoglikOptions, scale: number, grad: Float32Array): number {
    const d = spec.dim
    const B = x.length / d
    const problem = loglikOptionsProblem(opts)
    if (problem !== undefined) throw new RangeError(`ChunkedGradient.energy: ${problem}`)
    if (!Number.isFinite(scale)) throw new RangeError(`ChunkedGradient.energy: scale must be finite, got ${scale}`)
    if (!Number.isInteger(B)) throw new RangeError(`ChunkedGradient.energy: x has ${x.length} values, not a multiple of d = ${d}`)
    this.check(spec, [params], [grad], [x], B, d)
    return this.batch('energy', spec, B, [params], [x], [d], [grad], { solver: solverCode(opts.solver), steps: opts.steps, scale })
  }

  /** Stops and terminates the worker threads; later calls throw. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    Atomics.store(this.ctrl, STOP, 1)
    Atomics.add(this.ctrl, GEN, 1)
    Atomics.notify(this.ctrl, GEN)
    await Promise.all(this.workers.map((w) => w.worker.terminate()))
    for (const w of this.workers) w.port.close()
  }

  // -------------------------------------------------------------------------------------
  // utils
  // -------------------------------------------------------------------------------------

  private check(
    spec: MlpSpec,
    params: Float32Array[],
    grads: Float32Array[],
    points: Float32Array[],
    B: number,
    d: number,
  ): void {
    const P = parameterCount(spec)
    if (B < 1) throw new RangeError('ChunkedGradient: a batch needs at least one point')
    for (const p of [...params, ...grads])
      if (p.length !== P) throw new RangeError(`ChunkedGradient: a parameter vector has ${p.length} values, the model ${P}`)
    for (const x of points)
      if (x.length !== B * d) throw new RangeError(`ChunkedGradient: a point array has ${x.length} values, expected ${B} × ${d}`)
  }

  private batch(
    kind: Kind,
    spec: MlpSpec,
    B: number,
    params: Float32Array[],
    points: Float32Array[],
    rows: number[],
    outs: Float32Array[],
    extra: Partial<Pick<ChunkRequest, 'solver' | 'steps' | 'scale' | 'noise'>>,
  ): number {
    if (this.closed) throw new Error('ChunkedGradient: used after close()')
    if (this.failure !== undefined) throw new Error(`ChunkedGradient: ${this.failure}`)
    const chunks = Math.min(this.chunks, B)
    const P = parameterCount(spec)
    const nParams = params.length * P
    const arrays: (readonly [number, number])[] = []
    let floats = nParams
    for (const r of rows) {
      arrays.push([floats, r])
      floats += r * B
    }
    const r: ChunkRequest = {
      kind,
      desc: trainDescriptor(spec),
      B,
      chunks,
      threads: Math.min(this.threads, chunks),
      nParams,
      G: outs.length * P,
      arrays,
      solver: extra.solver ?? 0,
      steps: extra.steps ?? 0,
      scale: extra.scale ?? 1,
      noise: extra.noise ?? { seed: 0, stream: 0, start: 0 },
    }
    this.reserve(floats, chunks, r.G)
    const input = new Float32Array(this.inputBuf, 0, floats)
    params.forEach((p, i) => input.set(p, i * P))
    points.forEach((x, a) => input.set(x, arrays[a][0]))
    const values = new Float64Array(this.outputBuf, 0, chunks)
    const grads = new Float32Array(this.outputBuf, 8 * chunks, chunks * r.G)

    // wake the workers (every one, as the counter wakes them all; those past r.threads have no
    // chunks), compute ours, wait for theirs
    const active = this.workers
    if (active.length > 0) {
      Atomics.store(this.ctrl, DONE, 0)
      for (const w of active) {
        w.port.postMessage(w.buffers ? { request: r } : { request: r, input: this.inputBuf, output: this.outputBuf })
        w.buffers = true
      }
      Atomics.add(this.ctrl, GEN, 1)
      Atomics.notify(this.ctrl, GEN)
    }
    const own = this.runner.run(r, 0, input, values)
    for (let v = Atomics.load(this.ctrl, DONE); v < active.length; v = Atomics.load(this.ctrl, DONE))
      Atomics.wait(this.ctrl, DONE, v)
    const failures: string[] = []
    if (own !== undefined) failures.push(`thread 0 (the calling thread), chunk ${own.chunk}: ${describeError(own.error)}`)
    active.forEach((w, i) => {
      for (let m = receiveMessageOnPort(w.port); m !== undefined; m = receiveMessageOnPort(w.port)) {
        const f = m.message as WorkerFailure
        failures.push(`worker thread ${i + 1}, chunk ${f.chunk}: ${f.error}`)
      }
    })
    if (failures.length > 0)
      throw new Error(`ChunkedGradient: the ${kind} batch of ${B} points failed in ${failures.join('; ')}`)

    // the ordered weighted sum, in the calling thread's core
    return this.runner.sum(r, values, grads, outs)
  }

  /** Makes the shared buffers large enough; new ones are sent to every worker with its next request. */
  private reserve(inputFloats: number, chunks: number, G: number): void {
    const inBytes = 4 * inputFloats
    const outBytes = 8 * chunks + 4 * chunks * G
    const make = (bytes: number) => (this.workers.length > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes))
    if (this.inputBuf.byteLength < inBytes || this.outputBuf.byteLength < outBytes) {
      this.inputBuf = make(Math.max(inBytes, this.inputBuf.byteLength))
      this.outputBuf = make(Math.max(outBytes, this.outputBuf.byteLength))
      for (const w of this.workers) w.buffers = false
    }
  }
}

/** An error's message (with its name when it is not a plain Error). */
export const describeError = (e: unknown): string =>
  e instanceof Error ? (e.name === 'Error' ? e.message : `${e.name}: ${e.message}`) : String(e)
