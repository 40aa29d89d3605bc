/**
 * PyTorch side by side: a long-lived `/usr/bin/python3 bench/torch_gen.py` child that times RK4
 * generation of the bench model on request (one thread), so that its rounds interleave with the
 * WASM rounds of `npm run bench`. Optional: where PyTorch cannot be imported, `startTorch` says why.
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

/** A running generation child. */
export interface TorchGenerator {
  readonly info: TorchInfo
  /**
   * Wall and process-CPU seconds PyTorch took to integrate `n` fresh latent points, `batch` at a
   * time (CPU ≈ wall: one thread ran).
   */
  gen(n: number, batch: number, steps: number): Promise<{ seconds: number; cpu: number }>
  /** Integrates the row-major points `rows` ([n, d]) with PyTorch and returns the result. */
  integrate(rows: Float32Array, n: number, steps: number): Promise<Float32Array>
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
    close: () => {
      child.stdin.end('quit\n')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
