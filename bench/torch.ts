/**
 * PyTorch side by side: a long-lived `/usr/bin/python3 bench/torch_gen.py` child that times, on
 * request and on one thread, RK4 generation of the bench model, CFM training steps and the
 * AdamMCMC energy with its gradient, so that its rounds interleave with the WASM rounds of
 * `npm run bench`; it also computes a CFM loss and an energy with their gradients on given inputs,
 * for the agreement checks. Optional: where PyTorch cannot be imported, `startTorch` says why.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Mlp } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What the child reports when it is ready. */
export interface TorchInfo {
  readonly torch: string
  readonly threads: number
  readonly blas: readonly string[]
}

/** Wall and process-CPU seconds of a timed request (CPU ≈ wall: one thread ran). */
export interface TorchTiming {
  readonly seconds: number
  readonly cpu: number
}

/** A value and its gradient with respect to the parameters (canonical order), in f64. */
export interface TorchValueGrad {
  readonly value: number
  readonly grad: Float64Array
}

/** A running PyTorch child. */
export interface TorchGenerator {
  readonly info: TorchInfo
  /**
   * Wall and process-CPU seconds PyTorch took to integrate `n` fresh latent points, `batch` at a
   * time (CPU ≈ wall: one thread ran).
   */
  gen(n: number, batch: number, steps: number): Promise<{ seconds: number; cpu: number }>
  /** Integrates the row-major points `rows` ([n, d]) with PyTorch and returns the result. */
  integrate(rows: Float32Array, n: number, steps: number): Promise<Float32Array>
  /** Hands the child the training set, row-major `[n, d]`. */
  loadData(rows: Float32Array, n: number): Promise<void>
  /**
   * Runs `epochs` epochs of `perEpoch` CFM steps of `batch` points as ref.py's train_epoch (Adam,
   * lr 1e-3) on a copy of the model that persists across calls; `loss` is the last step's.
   */
  cfm(epochs: number, batch: number, perEpoch: number): Promise<TorchTiming & { steps: number; loss: number }>
  /**
   * Evaluates `reps` times the energy `−scale · Σ log p` of the first `batch` training points
   * (RK4, `steps` steps) with its gradient; `seconds` covers all `reps`.
   */
  energy(reps: number, batch: number, steps: number, scale: number): Promise<TorchTiming & { energy: number }>
  /** The CFM loss of the given draws (`t` [n], `x0` and `x1` row-major [n, d]) and its gradient. */
  cfmCheck(t: Float32Array, x0: Float32Array, x1: Float32Array, sigmaMin: number): Promise<TorchValueGrad>
  /** The energy `−scale · Σ log p(x)` of the row-major points `x` and its gradient (RK4, `steps` steps). */
  energyCheck(x: Float32Array, n: number, steps: number, scale: number): Promise<TorchValueGrad>
  close(): void
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))

/** The interpreter: BAYESAMP_PYTHON, else Debian's /usr/bin/python3 (where python3-torch lives). */
export const torchPython = (): string => process.env.BAYESAMP_PYTHON ?? '/usr/bin/python3'

/**
 * Starts the child for model `m`; resolves to the generator, or to a string saying why PyTorch
 * is not available here.
 */
export const startTorch = async (m: Mlp): Promise<TorchGenerator | string> => {
  const python = torchPython()
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 })
  if (probe.error !== undefined) return `cannot run ${python}: ${probe.error.message}`
  if (probe.status !== 0) return `${python} cannot import torch: ${probe.stderr.trim().split('\n').pop()}`

  const dir = mkdtempSync(join(tmpdir(), 'bayesamp-bench-'))
  const paramsFile = join(dir, 'params.f32')
  writeFileSync(paramsFile, m.params)
  const child: ChildProcessWithoutNullStreams = spawn(
    python,
    [
      join(here, 'torch_gen.py'),
      '--params', paramsFile,
      '--dim', String(m.spec.dim),
      '--hidden', m.spec.hidden.join(','),
      '--frequencies', String(m.spec.frequencies),
      '--activation', m.spec.activation,
    ],
    {
      env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)))
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next()
    if (r.done) throw new Error(`the PyTorch child exited: ${stderr.trim().split('\n').pop() ?? ''}`)
    const msg = JSON.parse(r.value) as Record<string, unknown>
    if (typeof msg.error === 'string') throw new Error(`the PyTorch child: ${msg.error}`)
    return msg
  }
  let ready: Record<string, unknown>
  try {
    ready = await next()
  } catch (e) {
    child.kill()
    rmSync(dir, { recursive: true, force: true })
    return e instanceof Error ? e.message : String(e)
  }
  let busy = Promise.resolve()
  const ask = <A>(line: string, read: (msg: Record<string, unknown>) => A): Promise<A> => {
    const answer = busy.then(async () => {
      child.stdin.write(line + '\n')
      return read(await next())
    })
    busy = answer.then(
      () => undefined,
      () => undefined,
    )
    return answer
  }
  let files = 0
  const file = (name: string): string => join(dir, `${files++}-${name}`)
  const valueGrad = async (dst: string): Promise<TorchValueGrad> => {
    const b = readFileSync(dst)
    const a = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
    if (a.length !== m.params.length + 1)
      throw new Error(`the PyTorch child wrote ${a.length - 1} gradient values, the model has ${m.params.length}`)
    return { value: a[0], grad: a.slice(1) }
  }
  const d = m.spec.dim
  return {
    info: { torch: String(ready.torch), threads: Number(ready.threads), blas: ready.blas as string[] },
    gen: (n, batch, steps) =>
      ask(`gen ${n} ${batch} ${steps}`, (msg) => ({ seconds: Number(msg.seconds), cpu: Number(msg.cpu) })),
    integrate: async (rows, n, steps) => {
      const src = join(dir, 'in.f32')
      const dst = join(dir, 'out.f32')
      writeFileSync(src, rows)
      await ask(`check ${src} ${dst} ${n} ${steps}`, () => undefined)
      const b = readFileSync(dst)
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
    },
    loadData: async (rows, n) => {
      if (rows.length !== n * d) throw new RangeError(`loadData: ${rows.length} values are not ${n} points × ${d}`)
      const src = file('data.f32')
      writeFileSync(src, rows)
      await ask(`data ${src} ${n}`, () => undefined)
    },
    cfm: (epochs, batch, perEpoch) =>
      ask(`cfm ${epochs} ${batch} ${perEpoch}`, (msg) => ({
        seconds: Number(msg.seconds),
        cpu: Number(msg.cpu),
        steps: Number(msg.steps),
        loss: Number(msg.loss),
      })),
    energy: (reps, batch, steps, scale) =>
      ask(`energy ${reps} ${batch} ${steps} ${scale}`, (msg) => ({
        seconds: Number(msg.seconds),
        cpu: Number(msg.cpu),
        energy: Number(msg.energy),
      })),
    cfmCheck: async (t, x0, x1, sigmaMin) => {
      const n = t.length
      if (x0.length !== n * d || x1.length !== n * d)
        throw new RangeError(`cfmCheck: x0 and x1 need ${n} points × ${d} values, got ${x0.length} and ${x1.length}`)
      const src = file('cfm.f32')
      const dst = file('cfm.f64')
      const a = new Float32Array(n + 2 * n * d)
      a.set(t)
      a.set(x0, n)
      a.set(x1, n + n * d)
      writeFileSync(src, a)
      await ask(`cfmcheck ${src} ${dst} ${n} ${sigmaMin}`, () => undefined)
      return valueGrad(dst)
    },
    energyCheck: async (x, n, steps, scale) => {
      if (x.length !== n * d) throw new RangeError(`energyCheck: ${x.length} values are not ${n} points × ${d}`)
      const src = file('energy.f32')
      const dst = file('energy.f64')
      writeFileSync(src, x)
      await ask(`energycheck ${src} ${dst} ${n} ${steps} ${scale}`, () => undefined)
      return valueGrad(dst)
    },
    close: () => {
      child.stdin.end('quit\n')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
