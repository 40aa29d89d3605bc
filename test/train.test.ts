import { describe, expect, it } from 'vitest'
import { Core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { ACTIVATIONS, type MlpSpec, PAPER_SPEC, mlp, parameterCount } from '../shared/model/spec.ts'
import { Adam } from '../shared/train/adam.ts'
import { cfmLossGrad, fieldVjp, putDescriptor, toSoa, trainKernels } from '../shared/train/backprop.ts'
import { STREAMS, batchSequence, stepDraws, trainCfm } from '../shared/train/cfm.ts'
import { philoxRandomness } from '../shared/train/random.ts'
import { normal as refNormal, uniformF64 } from './reference/rng.ts'
import { adamStepRef, cfmLossRef, cfmPairsRef, pointVjp } from './reference/train.ts'
import { uniform as seeded, normal, randomParams, relMaxError } from './util.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const randomBatch = (spec: MlpSpec, n: number, r: () => number) => ({
  t: Float32Array.from({ length: n }, () => r()),
  xt: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
  u: Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r)),
})

/** Central differences of the f64 reference CFM loss at the parameters listed in `which`. */
const fdGradient = (
  spec: MlpSpec,
  params: Float32Array,
  b: ReturnType<typeof randomBatch>,
  which: readonly number[],
): Float64Array => {
  const p = Float64Array.from(params)
  const g = new Float64Array(which.length)
  which.forEach((k, q) => {
    // h = 1e-6: truncation error ~h²·|f'''| ≈ 1e-12, rounding ~1e-16·|f|/h ≈ 1e-9, both far below 1e-4
    const h = 1e-6
    const keep = p[k]
    p[k] = keep + h
    const up = cfmLossRef(spec, p, b.t, b.xt, b.u).loss
    p[k] = keep - h
    const down = cfmLossRef(spec, p, b.t, b.xt, b.u).loss
    p[k] = keep
    g[q] = (up - down) / (2 * h)
  })
  return g
}

const SPEC_A = (activation: MlpSpec['activation']): MlpSpec => ({ dim: 2, hidden: [5, 7], activation, frequencies: 2 })
const SPEC_B = (activation: MlpSpec['activation']): MlpSpec => ({ dim: 3, hidden: [6, 3, 9], activation, frequencies: 0 })

describe('train', () => {
  const core = new Core('simd')

  // -------------------------------------------------------------------------------------
  // CFM loss and gradient kernel
  // -------------------------------------------------------------------------------------

  describe('cfm_loss_grad', () => {
    for (const activation of ACTIVATIONS)
      for (const [name, spec, n] of [
        ['A', SPEC_A(activation), 37],
        ['B', SPEC_B(activation), 70],
      ] as const)
        it(`matches central differences of the f64 reference: ${activation}, spec ${name}, n = ${n}`, () => {
          const r = seeded(n * 31 + ACTIVATIONS.indexOf(activation))
          const params = randomParams(spec, r)
          const b = randomBatch(spec, n, r)
          const { loss, grad } = cfmLossGrad(core, mlp(spec, params), b.t, b.xt, b.u)
          const ref = cfmLossRef(spec, params, b.t, b.xt, b.u)
          // f32 forward against f64: a few ulp of f32 per layer, far below 1e-5 relative
          expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5)
          const all = Array.from({ length: params.length }, (_, k) => k)
          const fd = fdGradient(spec, params, b, all)
          // the bound: relative error ≤ 1e-4 (f32 kernel against f64 differences)
          expect(relMaxError(grad, fd)).toBeLessThan(1e-4)
        })

    it.skipIf(!relaxedSimdSupported())('matches central differences on the relaxed-SIMD (fused) core', () => {
      const relaxed = new Core('relaxed')
      for (const activation of ACTIVATIONS) {
        const spec = SPEC_B(activation)
        const r = seeded(404 + ACTIVATIONS.indexOf(activation))
        const params = randomParams(spec, r)
        const b = randomBatch(spec, 70, r)
        const { loss, grad } = cfmLossGrad(relaxed, mlp(spec, params), b.t, b.xt, b.u)
        expect(Math.abs(loss - cfmLossRef(spec, params, b.t, b.xt, b.u).loss) / loss).toBeLessThan(1e-5)
        const fd = fdGradient(spec, params, b, Array.from({ length: params.length }, (_, k) => k))
        // fused multiply-adds round differently but no worse: the same 1e-4 bound
        expect(relMaxError(grad, fd)).toBeLessThan(1e-4)
      }
    })

    it('matches the reference on the paper model over several blocks (n = 130)', () => {
      const r = seeded(2498)
      const params = randomParams(PAPER_SPEC, r, 1)
      const b = randomBatch(PAPER_SPEC, 130, r)
      const { loss, grad } = cfmLossGrad(core, mlp(PAPER_SPEC, params), b.t, b.xt, b.u)
      const ref = cfmLossRef(PAPER_SPEC, params, b.t, b.xt, b.u, true)
      expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5)
      // full gradient against the analytic f64 reverse mode (f32 sums of 130 terms: ~1e-6)
      expect(relMaxError(grad, ref.grad!)).toBeLessThan(1e-5)
      // and 100 parameters spread over all layers against central differences
      const which = Array.from({ length: 100 }, (_, q) => Math.floor((q * params.length) / 100))
      const fd = fdGradient(PAPER_SPEC, params, b, which)
      expect(relMaxError(which.map((k) => grad[k]), fd)).toBeLessThan(1e-4)
    })

    it('returns a non-finite loss for a non-finite input instead of hiding it', () => {
      const spec = SPEC_A('elu')
      const r = seeded(5)
      const b = randomBatch(spec, 9, r)
      b.xt[7] = Number.NaN
      expect(cfmLossGrad(core, mlp(spec, randomParams(spec, r)), b.t, b.xt, b.u).loss).toBeNaN()
    })

    it('is deterministic and independent of the arena position', () => {
      const spec = SPEC_B('silu')
      const r = seeded(77)
      const m = mlp(spec, randomParams(spec, r))
      const b = randomBatch(spec, 150, r)
      const first = cfmLossGrad(core, m, b.t, b.xt, b.u)
      const again = core.scoped(() => {
        core.alloc(12345)
        return cfmLossGrad(core, m, b.t, b.xt, b.u)
      })
      expect(again.loss).toBe(first.loss)
      expect(Array.from(again.grad)).toEqual(Array.from(first.grad))
    })
  })

  // -------------------------------------------------------------------------------------
  // generic forward / backward
  // -------------------------------------------------------------------------------------

  describe('mlp_forward_cached, mlp_backward', () => {
    for (const activation of ACTIVATIONS)
      it(`give v, dL/dθ and dL/dx of the reference: ${activation}`, () => {
        const spec = SPEC_B(activation)
        const n = 67
        const r = seeded(11 + ACTIVATIONS.indexOf(activation))
        const params = randomParams(spec, r)
        const t = Float32Array.from({ length: n }, () => r())
        const x = Float32Array.from({ length: n * spec.dim }, () => 2 * normal(r))
        const dv = Float32Array.from({ length: n * spec.dim }, () => normal(r))
        const got = fieldVjp(core, mlp(spec, params), t, x, dv)
        const grad = new Float64Array(params.length)
        const v: number[] = []
        const dx: number[] = []
        for (let p = 0; p < n; p++) {
          const sl = (a: Float32Array) => Array.from(a.subarray(p * spec.dim, (p + 1) * spec.dim))
          const o = pointVjp(spec, params, t[p], sl(x), sl(dv), grad)
          v.push(...o.v)
          dx.push(...o.dx)
        }
        // f32 against f64 over three layers: a few ulp, stated as 1e-5 relative to the scale
        expect(relMaxError(got.v, v)).toBeLessThan(1e-5)
        expect(relMaxError(got.grad, grad)).toBeLessThan(1e-5)
        expect(relMaxError(got.dx, dx)).toBeLessThan(1e-5)
      })
  })

  describe('saturating pre-activations', () => {
    for (const activation of ACTIVATIONS)
      it(`stay accurate beyond the clamp of expm1 (|z| > 88): ${activation}`, () => {
        const spec = SPEC_A(activation)
        const n = 45
        const r = seeded(99 + ACTIVATIONS.indexOf(activation))
        const params = randomParams(spec, r, 4)
        const t = Float32Array.from({ length: n }, () => r())
        // |x| up to ~200 drives the first layer's pre-activations far past ±88
        const x = Float32Array.from({ length: n * spec.dim }, () => 60 * normal(r))
        const dv = Float32Array.from({ length: n * spec.dim }, () => normal(r))
        const got = fieldVjp(core, mlp(spec, params), t, x, dv)
        const grad = new Float64Array(params.length)
        const v: number[] = []
        for (let p = 0; p < n; p++) {
          const sl = (a: Float32Array) => Array.from(a.subarray(p * spec.dim, (p + 1) * spec.dim))
          v.push(...pointVjp(spec, params, t[p], sl(x), sl(dv), grad).v)
        }
        // same bound as above: f32 rounding relative to the scale of the output
        expect(relMaxError(got.v, v)).toBeLessThan(1e-5)
        expect(relMaxError(got.grad, grad)).toBeLessThan(1e-5)
      })
  })

  // -------------------------------------------------------------------------------------
  // CFM pairs
  // -------------------------------------------------------------------------------------

  it('cfm_pairs builds x_t and u of eq. (3.4) from gathered data points', () => {
    const d = 3
    const n = 11
    const N = 20
    const r = seeded(3)
    const data = Float32Array.from({ length: N * d }, () => 4 * normal(r))
    const idx = Int32Array.from({ length: n }, () => Math.floor(r() * N))
    const t = Float32Array.from({ length: n }, () => r())
    const x0 = Float32Array.from({ length: n * d }, () => normal(r))
    const x1 = Float32Array.from({ length: n * d }, (_, k) => data[idx[Math.floor(k / d)] * d + (k % d)])
    const ref = cfmPairsRef(t, x0, x1, d, 1e-4)
    const k = trainKernels(core)
    const { xt, u } = core.scoped(() => {
      const xtP = core.allocF32(n * d)
      const uP = core.allocF32(n * d)
      k.cfmPairs(core.putF32(data), core.putI32(idx), core.putF32(toSoa(x0, n, d)), core.putF32(t), n, d, 1e-4, xtP, uP)
      return { xt: core.f32(xtP, n * d).slice(), u: core.f32(uP, n * d).slice() }
    })
    // two f32 roundings per term against f64: below 1e-6 relative to the data scale
    expect(relMaxError(xt, toSoa(ref.xt, n, d))).toBeLessThan(1e-6)
    expect(relMaxError(u, toSoa(ref.u, n, d))).toBeLessThan(1e-6)
  })

  // -------------------------------------------------------------------------------------
  // Adam
  // -------------------------------------------------------------------------------------

  for (const [kind, weightDecay] of [
    ['adam', 0],
    ['adam', 0.05],
    ['adamw', 0.1],
  ] as const)
    it(`adam_step follows the PyTorch update rule: ${kind}, weight decay ${weightDecay}`, () => {
      const n = 11 // two v128 groups and a scalar tail of 3
      const r = seeded(n + weightDecay * 100)
      const o = { kind, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay }
      const lr = 0.01
      const theta0 = Float32Array.from({ length: n }, () => 2 * r() - 1)
      const grads = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => normal(r)))
      grads[1][4] = 0 // a zero gradient
      const got = core.scoped(() => {
        const adam = new Adam(core, n, lr, o)
        const p = core.putF32(theta0)
        for (const g of grads) adam.update(p, core.putF32(g))
        return { theta: core.f32(p, n).slice(), ...adam.state() }
      })
      const theta = Float64Array.from(theta0)
      const m = new Float64Array(n)
      const v = new Float64Array(n)
      grads.forEach((g, s) => adamStepRef(theta, g, m, v, { lr, ...o, decoupled: kind === 'adamw', step: s + 1 }))
      expect(got.step).toBe(3)
      // f32 against f64: each step rounds θ (≤ 2^-24·|θ| ≤ 6e-8 for |θ| < 1) and moves it by
      // ≈ lr with a relative error of a few 1e-7; three steps stay below 1e-6
      for (let k = 0; k < n; k++) {
        expect(Math.abs(got.theta[k] - theta[k])).toBeLessThan(1e-6)
        expect(Math.abs(got.m[k] - m[k])).toBeLessThan(1e-6 * Math.max(1, Math.abs(m[k])))
        expect(Math.abs(got.v[k] - v[k])).toBeLessThan(1e-6 * Math.max(1, Math.abs(v[k])))
      }
    })

  it('Adam rejects invalid settings with the field named', () => {
    const o = { kind: 'adam', beta1: 0.9, beta2: 1, eps: 1e-8, weightDecay: 0 } as const
    expect(() => new Adam(core, 4, 1e-3, o)).toThrow(/beta2 must lie in \[0, 1\)/)
    expect(() => new Adam(core, 4, -1, { ...o, beta2: 0.999 })).toThrow(/lr must be a positive number/)
  })

  // -------------------------------------------------------------------------------------
  // randomness
  // -------------------------------------------------------------------------------------

  it('philoxRandomness draws exactly the uniforms and normals of the reference generator', () => {
    const rnd = philoxRandomness(core, 0x9e3779b9)
    const stream = 0x74720002
    const start = 2 ** 32 - 3 // crosses into the high counter word
    const u = rnd.uniforms(stream, start, 6)
    // both exact: (a + ½)·2^-52 is computed without rounding on either side
    u.forEach((q, p) => expect(q).toBe(uniformF64(0x9e3779b9, stream, start + p, 0)))
    const n = 5
    const d = 3
    const z = core.scoped(() => {
      const ptr = core.allocF32(n * d)
      rnd.normalsPtr(stream, start, n, d, ptr)
      return core.f32(ptr, n * d).slice()
    })
    // Box–Muller in f64 on both sides, musl's log/cos/sin against V8's: agree to a few f64 ulp,
    // far below the final f32 rounding, so 1 f32 ulp (≤ 2^-23·|z|) bounds the difference
    for (let p = 0; p < n; p++)
      for (let j = 0; j < d; j++) {
        const ref = refNormal(0x9e3779b9, stream, start + p, j)
        expect(Math.abs(z[j * n + p] - ref)).toBeLessThanOrEqual(2 ** -23 * Math.max(1, Math.abs(ref)))
      }
    expect(() => philoxRandomness(core, 2 ** 32)).toThrow(/seed must be an integer/)
  })

  it('philoxRandomness draws uniforms in (0, 1) and standard normals, by index', () => {
    const rnd = philoxRandomness(core, 42)
    const n = 20000
    const u = rnd.uniforms(7, 1000, n)
    expect(Math.min(...u)).toBeGreaterThan(0)
    expect(Math.max(...u)).toBeLessThan(1)
    // a sub-range is the same draws
    expect(Array.from(rnd.uniforms(7, 1500, 10))).toEqual(Array.from(u.subarray(500, 510)))
    const z = core.scoped(() => {
      const p = core.allocF32(n * 3)
      rnd.normalsPtr(9, 0, n, 3, p)
      return core.f32(p, n * 3).slice()
    })
    for (let j = 0; j < 3; j++) {
      const c = z.subarray(j * n, (j + 1) * n)
      const mean = c.reduce((s, q) => s + q, 0) / n
      const variance = c.reduce((s, q) => s + (q - mean) ** 2, 0) / n
      // 5 standard errors: mean ± 5/√n = 0.035, variance ± 5·√(2/n) = 0.05
      expect(Math.abs(mean)).toBeLessThan(0.035)
      expect(Math.abs(variance - 1)).toBeLessThan(0.05)
    }
  })

  it('grad_reduce sums each accumulator\'s lanes as (s0 + s1) + (s2 + s3) in f32, times the scale', () => {
    const r = seeded(31)
    const k = trainKernels(core)
    for (const n of [2498, 7, 3, 1]) {
      const acc = Float32Array.from({ length: 4 * n }, () => (r() - 0.5) * 10 ** (6 * r() - 3))
      const scale = Math.fround(0.37)
      const want = Float32Array.from({ length: n }, (_, q) => {
        const [a, b, c, d] = acc.subarray(4 * q, 4 * q + 4)
        return Math.fround(Math.fround(Math.fround(a + b) + Math.fround(c + d)) * scale)
      })
      const got = core.scoped(() => {
        const out = core.allocF32(n)
        k.gradReduce(core.putF32(acc), n, out, scale)
        return core.f32(out, n).slice()
      })
      expect(Array.from(got)).toEqual(Array.from(want))
    }
  })

  it('batches are runs of Fisher–Yates permutations driven by the permutation stream, as the plain loop draws them', () => {
    const seed = 77
    const rnd = philoxRandomness(core, seed)
    // the reference: permutation r shuffles 0 … N−1 with uniforms [rN, (r + 1)N) of the stream,
    // in JavaScript; step s takes positions [sB, (s + 1)B) of the concatenated permutations
    const refPerm = (N: number, r: number, stream: number): number[] => {
      const p = Array.from({ length: N }, (_, i) => i)
      for (let i = N - 1; i > 0; i--) {
        const j = Math.floor(uniformF64(seed, stream, r * N + i, 0) * (i + 1))
        ;[p[i], p[j]] = [p[j], p[i]]
      }
      return p
    }
    for (const [N, B, stream] of [
      [1000, 300, STREAMS.permutation],
      [50, 120, STREAMS.permutation], // a batch spans three permutations
      [64, 64, 0x12345678],
    ]) {
      const perms = Array.from({ length: Math.ceil((4 * B) / N) }, (_, r) => refPerm(N, r, stream))
      core.scoped(() => {
        const idx = core.alloc(4 * B)
        const next = batchSequence(core, rnd, N, B, idx, stream)
        for (const s of [0, 1, 2, 3]) {
          next(s)
          const want = Array.from({ length: B }, (_, i) => perms[Math.floor((s * B + i) / N)][(s * B + i) % N])
          expect(Array.from(core.i32(idx, B))).toEqual(want)
        }
      })
    }
  })

  it("a step's times are its f64 uniforms rounded to f32, its latents the normals of its points", () => {
    const rnd = philoxRandomness(core, 5)
    const [N, B, d] = [100, 40, 2]
    core.scoped(() => {
      const ptr = { idx: core.alloc(4 * B), t: core.allocF32(B), x0: core.allocF32(B * d) }
      const step = stepDraws(core, rnd, N, B, d, ptr)
      step(3)
      expect(Array.from(core.f32(ptr.t, B))).toEqual(Array.from(Float32Array.from(rnd.uniforms(STREAMS.time, 3 * B, B))))
      const z = core.allocF32(B * d)
      rnd.normalsPtr(STREAMS.latent, 3 * B, B, d, z)
      expect(Array.from(core.f32(ptr.x0, B * d))).toEqual(Array.from(core.f32(z, B * d)))
    })
  })

  // -------------------------------------------------------------------------------------
  // training
  // -------------------------------------------------------------------------------------

  describe('trainCfm', () => {
    const spec: MlpSpec = { dim: 2, hidden: [32, 32], activation: 'elu', frequencies: 3 }
    const mu = [2, -1]
    const sd = [0.5, 0.8]
    const gaussian = (N: number, seed: number): Float32Array => {
      const r = seeded(seed)
      return Float32Array.from({ length: 2 * N }, (_, k) => mu[k % 2] + sd[k % 2] * normal(r))
    }

    /**
     * The smallest CFM loss any field reaches on the target N(μ, diag σ²): with s = 1 − ct,
     * c = 1 − σ_min, per coordinate the residual variance of u = x1 − c·x0 given x_t = s·x0 + t·x1
     * is σ² + c² − (tσ² − cs)² / (s² + t²σ²) (Gaussian conditioning); integrated over t by
     * Simpson's rule on 2000 intervals.
     */
    const optimalLoss = (sigmaMin: number): number => {
      const c = 1 - sigmaMin
      const f = (t: number) => {
        const s = 1 - c * t
        return sd.reduce((acc, q) => acc + q * q + c * c - (t * q * q - c * s) ** 2 / (s * s + t * t * q * q), 0)
      }
      const m = 2000
      let sum = f(0) + f(1)
      for (let i = 1; i < m; i++) sum += (i % 2 === 1 ? 4 : 2) * f(i / m)
      return sum / (3 * m)
    }

    it('decreases the loss on a 2-D Gaussian to near the optimum', () => {
      const data = gaussian(2560, 1)
      const res = trainCfm(core, { spec, data, epochs: 40, batchSize: 256, lr: 3e-3, seed: 7 })
      const floor = optimalLoss(1e-4)
      const first = res.losses[0]
      const last = (res.losses[38] + res.losses[39]) / 2
      expect(res.skipped).toBe(0)
      // the first epoch starts from ‖u‖² ≈ ‖μ‖² + Σσ² + 2 ≈ 7.9; ask that the last two epochs
      // close 90 % of the gap to the floor (batch noise on a 2-epoch mean: about 1.5 %)
      expect(last - floor).toBeLessThan(0.1 * (first - floor))
      expect(last).toBeGreaterThan(floor * 0.95)
    })

    it('is deterministic: the same seed gives the same parameters, another seed others', () => {
      const data = gaussian(600, 2)
      const o = { spec, data, epochs: 2, batchSize: 200, batchesPerEpoch: 4, seed: 3 }
      const a = trainCfm(core, o).model.params
      const b = trainCfm(new Core('simd'), o).model.params
      const c = trainCfm(core, { ...o, seed: 4 }).model.params
      expect(Array.from(b)).toEqual(Array.from(a))
      expect(Array.from(c)).not.toEqual(Array.from(a))
    })

    it('skips and counts steps with a non-finite loss or gradient, and goes on', () => {
      const data = gaussian(4000, 3)
      for (const k of [17, 1800, 3999]) data[2 * k] = 1e38 // overflows f32 in the loss or its gradient
      const res = trainCfm(core, { spec, data, epochs: 3, batchSize: 100, seed: 1 })
      // 30 steps of 100 visit 3000 positions of the first permutation of 4000 points: each
      // extreme point at most once, so at most 3 steps are skipped
      expect(res.skipped).toBeGreaterThanOrEqual(1)
      expect(res.skipped).toBeLessThanOrEqual(3)
      expect(res.losses.every(Number.isFinite)).toBe(true)
      expect(res.model.params.every(Number.isFinite)).toBe(true)
    })

    it('aborts with a clear error after too many non-finite steps in a row', () => {
      const init = new Float32Array(parameterCount(spec)).fill(Number.NaN)
      const data = gaussian(100, 4)
      expect(() => trainCfm(core, { spec, data, epochs: 5, batchSize: 50, seed: 1, init, maxConsecutiveSkips: 4 })).toThrow(
        /4 consecutive steps had a non-finite loss or gradient/,
      )
    })

    it('rejects bad options with the field named', () => {
      const data = gaussian(100, 5)
      expect(() => trainCfm(core, { spec, data, epochs: 1, seed: 1 })).toThrow(/fewer than one batch of 1000/)
      expect(() => trainCfm(core, { spec, data: data.subarray(1), epochs: 1, batchSize: 10, seed: 1 })).toThrow(
        /not a whole number of points/,
      )
      const bad = data.slice()
      bad[9] = Number.POSITIVE_INFINITY
      expect(() => trainCfm(core, { spec, data: bad, epochs: 1, batchSize: 10, seed: 1 })).toThrow(
        /data point 4 has a non-finite coordinate/,
      )
      expect(() => trainCfm(core, { spec, data, epochs: 1, batchSize: 10, seed: -1 })).toThrow(/seed must be an integer/)
      expect(() =>
        trainCfm(core, { spec, data, epochs: 1, batchSize: 10, seed: 1, optimizer: { kind: 'adamw', beta1: 1 } }),
      ).toThrow(/beta1 must lie in \[0, 1\)/)
    })
  })

  it('putDescriptor agrees with the spec on the parameter count', () => {
    core.scoped(() => {
      const desc = putDescriptor(core, PAPER_SPEC)
      expect(trainKernels(core).paramCount(desc)).toBe(2498)
    })
  })
})
