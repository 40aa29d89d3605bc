import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { benchModel, latents, rowsToSoa, soaToRows } from '../bench/model.ts'
import { OrtGenerator } from '../bench/ort.ts'
import { startTorch, torchPython } from '../bench/torch.ts'
import { cfmDraws, relativeMaxDiff } from '../bench/training.ts'
import { PlainField, foldedMacFlopPerEvaluation, integrateRk4Plain, macFlopPerEvaluation } from '../bench/plain-js.ts'
import { peakKernel } from '../bench/peak.ts'
import { core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { sampleRing } from '../shared/data/gamma-ring.ts'
import { PAPER_SPEC, type Mlp } from '../shared/model/spec.ts'
import { cfmLossGrad } from '../shared/train/backprop.ts'
import { energyGrad } from '../shared/train/loglik.ts'
import { fieldPoint } from './reference/mlp.ts'

/** Whether the bench's Python can import torch: the PyTorch agreement tests need it, and say so when skipped. */
const hasTorch = spawnSync(torchPython(), ['-c', 'import torch'], { timeout: 60_000 }).status === 0

/** RK4 in f64 on row-major points, with the reference field: the independent computation. */
const rk4Reference = (m: Mlp, rows: Float32Array, n: number, steps: number): Float64Array => {
  const d = m.spec.dim
  const x = Float64Array.from(rows)
  const h = 1 / steps
  for (let i = 0; i < n; i++) {
    let p = Array.from(x.subarray(i * d, i * d + d))
    const shift = (k: number[], c: number) => p.map((v, j) => v + c * k[j])
    for (let s = 0; s < steps; s++) {
      const t = s * h
      const k1 = fieldPoint(m, t, p)
      const k2 = fieldPoint(m, t + h / 2, shift(k1, h / 2))
      const k3 = fieldPoint(m, t + h / 2, shift(k2, h / 2))
      const k4 = fieldPoint(m, t + h, shift(k3, h))
      p = p.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]))
    }
    x.set(p, i * d)
  }
  return x
}

describe('bench', () => {
  // -------------------------------------------------------------------------------------
  // plain JavaScript
  // -------------------------------------------------------------------------------------

  it('PlainField.evaluate matches the reference field', () => {
    const m = benchModel()
    const n = 33
    const x = latents(n, 2, 5).map((v) => 3 * v)
    const out = new Float32Array(2 * n)
    const f = new PlainField(m)
    for (const t of [0, 0.3125, 1]) {
      f.evaluate(t, x, n, out)
      const rows = soaToRows(x, n, 2)
      for (let i = 0; i < n; i++) {
        const v = fieldPoint(m, t, [rows[2 * i], rows[2 * i + 1]])
        // f64 sums from identical f32 inputs; the only f32 rounding is of the output (|v| ≲ 2,
        // half an ulp ≤ 1.2e-7), plus summation-order differences at the 1e-15 level.
        expect(Math.abs(out[i] - v[0])).toBeLessThan(2.5e-7)
        expect(Math.abs(out[n + i] - v[1])).toBeLessThan(2.5e-7)
      }
    }
  })

  it('integrateRk4Plain matches an f64 RK4 of the reference field within 1e-5', () => {
    const m = benchModel()
    const n = 48
    const x = latents(n, 2, 7)
    const want = rk4Reference(m, soaToRows(x, n, 2), n, 16)
    expect(integrateRk4Plain(new PlainField(m), x, n, 16)).toBe(64)
    const got = soaToRows(x, n, 2)
    // The plain loop rounds the state and the slopes to f32 at each of the 64 stages: about
    // 64 roundings of values ≲ 8 (ulp/2 ≤ 4.8e-7) would be 3e-5 if they all added up; they
    // partly cancel, as a random walk of ~8 · 2.4e-7 ≈ 2e-6 (3e-7 observed). 1e-5 leaves room for
    // that and fails on any real difference in the loop (a wrong stage time or weight is ≳ 1e-3).
    for (let i = 0; i < 2 * n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5)
    expect(rowsToSoa(got, n, 2)).toEqual(x)
  })

  it('rejects a state that is too short', () => {
    expect(() => integrateRk4Plain(new PlainField(benchModel()), new Float32Array(3), 2, 16)).toThrow(/state has 3/)
  })

  it('counts FLOP per evaluation', () => {
    const m = benchModel(PAPER_SPEC)
    // 9 → 32 → 32 → 32 → 2: 2 · (9·32 + 32·32 + 32·32 + 32·2) = 4800; folded, the first layer
    // keeps only its 2 data inputs: 2 · (2·32 + 32·32 + 32·32 + 32·2) = 4352.
    expect(macFlopPerEvaluation(m)).toBe(4800)
    expect(foldedMacFlopPerEvaluation(m)).toBe(4352)
  })

  // -------------------------------------------------------------------------------------
  // onnxruntime and PyTorch drivers
  // -------------------------------------------------------------------------------------

  it('OrtGenerator integrates batch by batch like the plain loop', async () => {
    const m = benchModel()
    const n = 64
    const z = latents(n, 2, 9)
    const want = z.slice()
    integrateRk4Plain(new PlainField(m), want, n, 16)
    const g = await OrtGenerator.create(m, 32)
    const rows = soaToRows(z, n, 2)
    expect(await g.integrate(rows, n, 16)).toBe(2 * 64) // two batches × 64 stage runs
    await expect(g.integrate(rows, 48, 16)).rejects.toThrow(/not a multiple of the batch size 32/)
    await g.release()
    // Same f32 loop, different summation order inside the layers (sgemm): a few f32 roundings
    // per stage, as in the plain-vs-reference test; 1e-5 again.
    const got = rowsToSoa(rows, n, 2)
    for (let i = 0; i < 2 * n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5)
  })

  it('startTorch says why when there is no Python to run', async () => {
    const saved = process.env.BAYESAMP_PYTHON
    process.env.BAYESAMP_PYTHON = '/nonexistent/python3'
    try {
      expect(await startTorch(benchModel())).toMatch(/^cannot run \/nonexistent\/python3/)
    } finally {
      if (saved === undefined) delete process.env.BAYESAMP_PYTHON
      else process.env.BAYESAMP_PYTHON = saved
    }
  })

  it('cfmDraws builds x_t and u from its t and x0 as eq. 3.4 says', () => {
    const x1 = Float32Array.from([1, 2, -3, 4, 0.5, -0.25])
    const { t, x0, xt, u } = cfmDraws(x1, 3, 2, 0.1)
    expect(t.length).toBe(3)
    for (const v of t) expect(v > 0 && v < 1).toBe(true)
    for (let i = 0; i < 6; i++) {
      const ti = t[i >> 1]
      // f32 rounding of an f64 value of size ≲ 5: ≤ 2.4e-7 plus the f32 inputs' own rounding
      expect(Math.abs(xt[i] - ((1 - 0.9 * ti) * x0[i] + ti * x1[i]))).toBeLessThan(1e-6)
      expect(Math.abs(u[i] - (x1[i] - 0.9 * x0[i]))).toBeLessThan(1e-6)
    }
  })

  it('relativeMaxDiff is the largest difference over the largest reference entry', () => {
    expect(relativeMaxDiff([1, 2.5, -4], [1, 2, -4])).toBeCloseTo(0.5 / 4, 12)
  })

  describe.skipIf(!hasTorch)(`the PyTorch child (${torchPython()} with torch)`, () => {
    // One child for the group: startup (import torch) is the slow part.
    const m = benchModel()
    const c = core('simd')
    const n = 64
    const x1 = sampleRing(c, 5, n)
    const child = startTorch(m)
    const torch = async () => {
      const t = await child
      if (typeof t === 'string') throw new Error(t)
      return t
    }

    it('computes the CFM loss and gradient our fused kernel computes', async () => {
      const sigmaMin = 1e-4
      const dr = cfmDraws(x1, n, 2, sigmaMin)
      const theirs = await (await torch()).cfmCheck(dr.t, dr.x0, x1, sigmaMin)
      const ours = cfmLossGrad(c, m, dr.t, dr.xt, dr.u)
      // Both in f32 from the same inputs (PyTorch forms x_t and u itself, in f32 instead of f64:
      // ≲ 1 ulp per coordinate); they differ by summation order over 64 points and 32-wide layers:
      // observed 1e-8 (loss) and 4e-7 (gradient, relative to its largest entry). 1e-6 and 1e-5
      // leave room for that and fail on a wrong term (a missing σ_min or a wrong layer is ≳ 1e-3).
      expect(Math.abs(ours.loss - theirs.value) / theirs.value).toBeLessThan(1e-6)
      expect(relativeMaxDiff(ours.grad, theirs.grad)).toBeLessThan(1e-5)
    })

    it('computes the AdamMCMC energy and gradient loglik.ts computes', async () => {
      const theirs = await (await torch()).energyCheck(x1, n, 8, 10)
      const ours = energyGrad(c, m, x1, { solver: 'rk4', steps: 8 }, 10)
      // f32 through 32 solver stages each, with autograd's and our adjoint's summation orders:
      // observed 6e-8 (energy) and 2e-6 (gradient); 1e-6 and 1e-4 bound that with room, while a
      // missing divergence or second-derivative term changes the gradient far beyond that.
      expect(Math.abs(ours.energy - theirs.value) / Math.abs(theirs.value)).toBeLessThan(1e-6)
      expect(relativeMaxDiff(ours.grad, theirs.grad)).toBeLessThan(1e-4)
    })

    it('times CFM epochs and energy evaluations on the training set it was given', async () => {
      const t = await torch()
      const data = sampleRing(c, 6, 200)
      await t.loadData(data, 200)
      const r = await t.cfm(2, 50, 4)
      expect(r.steps).toBe(8)
      expect(r.seconds).toBeGreaterThan(0)
      // the CFM loss of an untrained field on the ring is of the order of E‖x1 − x0‖² ≈ 27
      expect(r.loss).toBeGreaterThan(1)
      expect(r.loss).toBeLessThan(1000)
      await expect(t.cfm(1, 100, 4)).rejects.toThrow(/at least batch x per-epoch points/)
      // The timed energy is the energy of the first `batch` points: the same number as above.
      const e = await t.energy(2, 32, 8, 10)
      const ours = energyGrad(c, m, data.subarray(0, 64), { solver: 'rk4', steps: 8 }, 10)
      expect(Math.abs(e.energy - ours.energy) / Math.abs(ours.energy)).toBeLessThan(1e-6)
    })

    afterAll(async () => {
      const t = await child
      if (typeof t !== 'string') t.close()
    })
  })

  // -------------------------------------------------------------------------------------
  // peak microkernel
  // -------------------------------------------------------------------------------------

  it('the peak kernels return the chains’ fixed point', () => {
    const variants = relaxedSimdSupported() ? (['simd', 'relaxed'] as const) : (['simd'] as const)
    for (const v of variants) {
      const k = peakKernel(v)
      // Every chain acc ← acc·m + a starts in [1, 2.1] and converges to a/(1 − m) = 1 (factor
      // 0.5 per iteration, so 200 iterations reach it to f32 precision): 12 chains × 4 lanes = 48.
      expect(k.mulAdd(200, 0.5, 0.5)).toBeCloseTo(48, 4)
      expect(k.madd(200, 0.5, 0.5)).toBeCloseTo(48, 4)
      // A single iteration from the start values 1.0 … 2.1 (step 0.1) with m = 2, a = 1:
      // Σ (2c + 1) · 4 lanes = 4 · (2 · 18.6 + 12) = 196.8.
      expect(k.mulAdd(1, 2, 1)).toBeCloseTo(196.8, 3)
      expect(k.flopPerIteration).toBe(96)
    }
  })
  it('the relaxed peak kernel fuses and converges, in a Node.js that runs relaxed SIMD', () => {
    // Node.js 20 needs the flag (Node.js 22 accepts it too, or the probe below says no and the
    // in-process test above has already covered the relaxed build).
    const file = join(import.meta.dirname, '..', 'wasm', 'build', 'peak.relaxed.wasm')
    const script =
      `const fs = require('node:fs');` +
      `const bytes = fs.readFileSync(${JSON.stringify(file)});` +
      `const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;` +
      `console.log(JSON.stringify([e.PEAK_FUSED.value, e.peakMadd(200, 0.5, 0.5), e.peakMadd(1, 2, 1)]))`
    const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', script], { encoding: 'utf8' })
    if (r.status !== 0 && /bad option/.test(r.stderr)) return // a Node.js without the flag: covered above
    expect(r.stderr).toBe('')
    const [fused, converged, once] = JSON.parse(r.stdout) as number[]
    expect(fused).toBe(1)
    expect(converged).toBeCloseTo(48, 4) // as for the unfused chains: 12 × 4 lanes × fixed point 1
    // One step 2c + 1 from c = 1.0 … 2.1: fused and unfused differ by one f32 rounding (≲ 1e-6).
    expect(once).toBeCloseTo(196.8, 3)
  })
})
