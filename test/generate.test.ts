/**
 * Generation end to end on the WASM core: the prefix rule, bit-identical counts for any worker
 * count, the points file, the counts file and its sidecar, resuming, and errors.
 *
 * The counts are checked against an independent recount: the same latent draws integrated by the
 * solver (tested against its reference in ode.test.ts) and binned here by a plain loop over the
 * exact quantile edges — so what is tested is the plumbing (chunks, prefix, offsets, workers).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { WasmField } from '../shared/core/field.ts'
import { integrate } from '../shared/core/ode.ts'
import { normals } from '../shared/core/rng.ts'
import { Core } from '../shared/core/wasm.ts'
import { radialEdges } from '../shared/data/gamma-ring.ts'
import { generateOrt, generateWasm } from '../shared/generate/generate.ts'
import { sidecarPath } from '../shared/generate/output.ts'
import { type GenerationPlan, chunks, gridLimits, planProblem, totalPoints } from '../shared/generate/plan.ts'
import { decodeNpy, npyNumbers } from '../shared/io/npy.ts'
import { exportOnnx, importOnnx } from '../shared/model/onnx.ts'
import { OrtField } from '../shared/model/ort.ts'
import { PAPER_SPEC, mlp, parameterCount, type Mlp } from '../shared/model/spec.ts'

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'bayesamp-generate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A deterministic paper-size field: weights U(±1/√fan_in) from a small LCG, so points move but stay finite. */
const model = (seed = 7): Mlp => {
  let s = seed >>> 0
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1
  const params = new Float32Array(parameterCount(PAPER_SPEC))
  for (let i = 0; i < params.length; i++) params[i] = 0.5 * u()
  return mlp(PAPER_SPEC, params)
}

/** Plain recount of row-major points into an n×n Gamma-ring quantile grid. */
const recount = (points: Float32Array, n: number, limit: number) => {
  const edges = radialEdges(n)
  const counts = new Float64Array(n * n)
  let invalid = 0
  for (let i = 0; i < limit; i++) {
    const x = points[2 * i]
    const y = points[2 * i + 1]
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      invalid++
      continue
    }
    const r = Math.hypot(x, y)
    let phi = Math.atan2(y, x)
    if (phi < 0) phi += 2 * Math.PI
    let jr = 0
    while (jr < n - 1 && r >= edges[jr]) jr++
    const jphi = Math.min(n - 1, Math.floor((phi * n) / (2 * Math.PI)))
    counts[jr * n + jphi]++
  }
  return { counts, invalid }
}

const plan: GenerationPlan = {
  seed: 11,
  stream: 0,
  grids: [2, 3, 5],
  count: { kind: 'perBin', pointsPerBin: 60 },
  solver: { kind: 'rk4', steps: 4 },
  chunkSize: 256,
}

describe('plan', () => {
  it('prefix rule: grid n counts pointsPerBin · n² points; the largest sets the total', () => {
    expect(gridLimits(plan)).toEqual([240, 540, 1500])
    expect(totalPoints(plan)).toBe(1500)
    expect(gridLimits({ ...plan, count: { kind: 'fixed', points: 1000 } })).toEqual([1000, 1000, 1000])
  })

  it('chunks tile [0, total) and depend only on the chunk size', () => {
    const cs = chunks(plan)
    expect(cs.map((c) => c.size).reduce((a, b) => a + b, 0)).toBe(1500)
    cs.forEach((c, i) => expect(c.start).toBe(i * 256))
    expect(cs.at(-1)!.size).toBe(1500 - 5 * 256)
  })

  it('planProblem names the bad field', () => {
    expect(planProblem({ ...plan, grids: [] })).toMatch(/grids/)
    expect(planProblem({ ...plan, grids: [2, 2] })).toMatch(/distinct/)
    expect(planProblem({ ...plan, seed: -1 })).toMatch(/seed/)
    expect(planProblem({ ...plan, chunkSize: 0 })).toMatch(/chunk size/)
    expect(planProblem({ ...plan, count: { kind: 'perBin', pointsPerBin: 0 } })).toMatch(/points per bin/)
    expect(planProblem(plan)).toBeUndefined()
  })
})

describe('generateWasm', () => {
  const m = model()

  it('counts equal an independent recount of the integrated latent draws', async () => {
    const r = await generateWasm(m, plan, { workers: 0, variant: 'simd' })
    const c = new Core('simd')
    const z = normals(c, { seed: plan.seed, stream: plan.stream }, 0, 1500, 2)
    const x = c.scoped(() => integrate(new WasmField(c, m), z, plan.solver, 0, 1).x)
    gridLimits(plan).forEach((limit, b) => {
      const want = recount(x, plan.grids[b], limit)
      expect(Array.from(r.counts[b])).toEqual(Array.from(want.counts))
      expect(r.invalid[b]).toBe(want.invalid)
      expect(r.counts[b].reduce((a, v) => a + v, 0) + r.invalid[b]).toBe(limit)
    })
    expect(r.evaluator).toBe('wasm-simd')
    expect(r.evaluations).toBe(1500 * 16) // RK4: 4 stages × 4 steps per point
  })

  it('is bit-identical for 0, 1 and 2 workers', async () => {
    const results = await Promise.all([0, 1, 2].map((workers) => generateWasm(m, plan, { workers, variant: 'simd' })))
    for (const r of results.slice(1)) expect(r.counts.map((c) => Array.from(c))).toEqual(results[0].counts.map((c) => Array.from(c)))
  })

  it('dopri5 counts are bit-identical across worker counts too', async () => {
    const p: GenerationPlan = { ...plan, solver: { kind: 'dopri5', rtol: 1e-4, atol: 1e-5 } }
    const [a, b] = await Promise.all([0, 2].map((workers) => generateWasm(m, p, { workers, variant: 'simd' })))
    expect(a.counts.map((c) => Array.from(c))).toEqual(b.counts.map((c) => Array.from(c)))
    expect(a.evaluations).toBe(b.evaluations)
  })

  it('fused (relaxed) and unfused builds agree statistically and say which made the counts', async () => {
    const [a, b] = await Promise.all((['simd', 'relaxed'] as const).map((variant) => generateWasm(m, plan, { workers: 0, variant })))
    expect([a.evaluator, b.evaluator]).toEqual(['wasm-simd', 'wasm-relaxed'])
    // Fused multiply-add changes the last bits of each point (relative ~1e-6 after 16 stages), so
    // only points within ~1e-5 of an edge can change bins: a handful out of 1500, never a bin's bulk.
    a.counts.forEach((c, g) => {
      const moved = c.reduce((acc, v, j) => acc + Math.abs(v - b.counts[g][j]), 0) / 2
      expect(moved).toBeLessThanOrEqual(5)
    })
  })

  it('onnxruntime with the host solvers counts what the WASM core counts, up to rounding at edges', async () => {
    const field = await OrtField.create(exportOnnx(m), 'model')
    const [viaOrt, viaWasm] = [await generateOrt(field, plan), await generateWasm(m, plan, { workers: 0, variant: 'simd' })]
    expect(viaOrt.evaluator).toBe('onnxruntime')
    expect(viaOrt.evaluations).toBe(viaWasm.evaluations)
    // Host solvers keep the state in f64, the kernel in f32: points differ by ~1e-6, so only
    // points that close to an edge may change bins.
    viaOrt.counts.forEach((c, g) => {
      const moved = c.reduce((acc, v, j) => acc + Math.abs(v - viaWasm.counts[g][j]), 0) / 2
      expect(moved).toBeLessThanOrEqual(5)
    })
  })

  it('shards on chunk boundaries sum to the whole sample, bit for bit', async () => {
    for (const solver of [plan.solver, { kind: 'dopri5', rtol: 1e-4, atol: 1e-5 } as const]) {
      const p = { ...plan, solver }
      const whole = await generateWasm(m, p, { workers: 0, variant: 'simd' })
      const parts = await Promise.all(
        [[0, 512], [512, 1024], [1024, 4096]].map(([start, end]) => generateWasm(m, { ...p, range: { start, end } }, { workers: 1, variant: 'simd' })),
      )
      expect(parts.map((r) => r.totalPoints)).toEqual([512, 512, 476])
      whole.counts.forEach((c, g) => {
        const sum = new Float64Array(c.length)
        for (const r of parts) r.counts[g].forEach((v, j) => (sum[j] += v))
        expect(Array.from(sum)).toEqual(Array.from(c))
      })
    }
    expect(planProblem({ ...plan, range: { start: 100, end: 600 } })).toMatch(/multiple of the chunk size/)
  })

  it('writes the generated points, in index order, whatever the workers', async () => {
    const file = join(dir, 'points.npy')
    await generateWasm(m, plan, { workers: 2, variant: 'simd', pointsOut: file })
    const pts = decodeNpy(readFileSync(file), file)
    expect(pts.shape).toEqual([1500, 2])
    const c = new Core('simd')
    const z = normals(c, { seed: plan.seed, stream: plan.stream }, 0, 1500, 2)
    const x = c.scoped(() => integrate(new WasmField(c, m), z, plan.solver, 0, 1).x)
    expect(Array.from(pts.data as Float32Array)).toEqual(Array.from(x))
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})

describe('bayesamp generate (command line)', () => {
  const modelFile = join(dir, 'm.onnx')
  writeFileSync(modelFile, exportOnnx(model()))
  const cli = (...args: string[]) => run(process.execPath, ['bin/bayesamp.js', ...args], { cwd: join(import.meta.dirname, '..') })
  const out = join(dir, 'cli', 'counts.npy')
  const args = ['generate', '--model', modelFile, '--seed', '3', '--grids', '2,4', '--points-per-bin', '50', '--steps', '4', '--workers', '2', '--core', 'simd', '--out', out]

  it('writes counts and sidecar; a rerun does nothing', async () => {
    const first = await cli(...args)
    expect(first.stderr).toMatch(/MLP family .* WASM kernel/)
    const counts = npyNumbers(decodeNpy(readFileSync(out), out))
    const side = JSON.parse(readFileSync(sidecarPath(out), 'utf8'))
    expect(side.format).toBe('bayesamp.counts/1')
    expect(side.grids).toEqual([
      { n: 2, offset: 0, points: 200, invalid: 0 },
      { n: 4, offset: 4, points: 800, invalid: 0 },
    ])
    expect(counts.length).toBe(20)
    expect(counts.slice(0, 4).reduce((a, b) => a + b)).toBe(200)
    expect(counts.slice(4).reduce((a, b) => a + b)).toBe(800)
    const second = await cli(...args)
    expect(second.stderr).toMatch(/already complete/)
  })

  it('rejects a file that is not ONNX, naming it', async () => {
    const bad = join(dir, 'bad.onnx')
    writeFileSync(bad, 'this is not a model')
    await expect(cli('generate', '--model', bad, '--out', join(dir, 'x.npy'))).rejects.toMatchObject({ stderr: expect.stringContaining('bad.onnx') })
    expect(existsSync(join(dir, 'x.npy'))).toBe(false)
  })

  it('rejects bad options, naming them', async () => {
    await expect(cli(...args, '--grids', '2,x')).rejects.toMatchObject({ stderr: expect.stringContaining('--grids') })
    await expect(cli('generate', '--model', modelFile, '--out', join(dir, 'y.txt'))).rejects.toMatchObject({ stderr: expect.stringContaining('.npy') })
    await expect(cli('generate', '--model', modelFile, '--out', out, '--solver', 'rk5')).rejects.toMatchObject({ stderr: expect.stringContaining('--solver') })
  })
})

describe('the default solver is accurate enough', () => {
  it('RK4 with 16 steps moves the example model\'s 20×20 counts by far less than their Poisson error', async () => {
    const imported = importOnnx(readFileSync(join(import.meta.dirname, '..', 'examples/models/ring-cfm.onnx')), 'ring-cfm.onnx')
    if (imported.kind !== 'mlp') throw new Error('the example model should import into the WASM kernel')
    const p: GenerationPlan = { seed: 5, stream: 0, grids: [20], count: { kind: 'perBin', pointsPerBin: 100 }, solver: { kind: 'rk4', steps: 16 }, chunkSize: 4096 }
    const [rk4, tight] = await Promise.all([
      generateWasm(imported.model, p, { workers: 1, variant: 'simd' }),
      generateWasm(imported.model, { ...p, solver: { kind: 'dopri5', rtol: 1e-7, atol: 1e-8 } }, { workers: 1, variant: 'simd' }),
    ])
    // Same latent points, so the difference is the solver's bias alone. Poisson error per bin is
    // √100 = 10 (a posterior's spread is larger still); at 1000 per bin the rms was 1.7 of 31.6.
    const d = rk4.counts[0].map((v, j) => v - tight.counts[0][j])
    const rms = Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length)
    expect(rms).toBeLessThan(0.2 * 10)
  })
})
