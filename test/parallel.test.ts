/**
 * ChunkedGradient (shared/train/parallel.ts): a batch cut into a fixed number of chunks, computed
 * on 1, 2 or 3 threads, gives the same bits whatever the number of threads (CFM and VIB trainings,
 * AdamMCMC energy), agrees with the unchunked kernels up to f32 rounding, and reports a failure in
 * a worker thread as an Error that names the thread and the chunk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { core } from '../shared/core/wasm.ts'
import { PAPER_SPEC, parameterCount } from '../shared/model/spec.ts'
import { cfmLossGrad, fromSoa } from '../shared/train/backprop.ts'
import { trainCfm } from '../shared/train/cfm.ts'
import { energyGrad } from '../shared/train/loglik.ts'
import { mcmcEnergy } from '../shared/train/mcmc-energy.ts'
import { ChunkedGradient, chunkBounds } from '../shared/train/parallel.ts'
import { VIB_STREAMS, flipoutLossGrad, noiseRows, trainVib, vibLossGrad, vibNoise, vibPrepared } from '../shared/train/vib.ts'
import { randomMlp, relErr, uniform } from './util.ts'

// -------------------------------------------------------------------------------------
// fixtures
// -------------------------------------------------------------------------------------

const c = core()
const spec = PAPER_SPEC
const P = parameterCount(spec)

/** 300 points of a noisy ring, row-major [N, 2]. */
const ringData = (): Float32Array => {
  const u = uniform(11)
  const out = new Float32Array(600)
  for (let i = 0; i < 300; i++) {
    const phi = 2 * Math.PI * u()
    const r = 4 + u()
    out[2 * i] = r * Math.cos(phi)
    out[2 * i + 1] = r * Math.sin(phi)
  }
  return out
}
const data = ringData()

// batches of 100 points in 8 chunks: chunks of 12 and 13 points, so the weights n_c/B differ
const training = { spec, data, epochs: 2, batchSize: 100, batchesPerEpoch: 3, seed: 5 } as const

let pools: ChunkedGradient[] = []
beforeAll(async () => {
  pools = [ChunkedGradient.inThread({ variant: c.variant }), ...(await Promise.all([2, 3].map((threads) => ChunkedGradient.start({ threads, variant: c.variant }))))]
}, 20_000)
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()))
})

/** A batch of B points (times, x_t, targets SoA [2][B]) and its chunk (start, n) as row-major arrays. */
const batchOf = (B: number, u: () => number) => {
  const t = Float32Array.from({ length: B }, u)
  const xt = Float32Array.from({ length: 2 * B }, () => 6 * u() - 3)
  const target = Float32Array.from({ length: 2 * B }, () => 4 * u() - 2)
  const rows = (a: Float32Array, start: number, n: number) => fromSoa([...a.subarray(start, start + n), ...a.subarray(B + start, B + start + n)], n, 2)
  return { t, xt, target, chunk: (start: number, n: number) => ({ t: t.subarray(start, start + n), xt: rows(xt, start, n), u: rows(target, start, n) }) }
}

/**
 * The reference of a chunked batch: the chunks' (loss, gradients) from `kernel`, weighted n_c/B and
 * summed in chunk order in f64, the gradients rounded once to f32 (parallel.ts's module header).
 */
const chunkwise = (B: number, kernel: (start: number, n: number) => { loss: number; grads: ArrayLike<number>[] }) => {
  let value = 0
  let acc: Float64Array[] = []
  for (let k = 0; k < 8; k++) {
    const { start, n } = chunkBounds(B, 8, k)
    const r = kernel(start, n)
    if (acc.length === 0) acc = r.grads.map((g) => new Float64Array(g.length))
    value += (n / B) * r.loss
    r.grads.forEach((g, i) => {
      for (let q = 0; q < g.length; q++) acc[i][q] += (n / B) * g[q]
    })
  }
  return { value, grads: acc.map((a) => Float32Array.from(a)) }
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('chunks', () => {
  it('cut a batch into consecutive, non-empty chunks that cover it', () => {
    for (const [B, C] of [
      [100, 8],
      [1000, 8],
      [7, 7],
      [9, 4],
    ]) {
      let next = 0
      for (let k = 0; k < C; k++) {
        const { start, n } = chunkBounds(B, C, k)
        expect(start).toBe(next)
        expect(n).toBeGreaterThan(0)
        next = start + n
      }
      expect(next).toBe(B)
    }
  })

  it('are summed by the core in chunk order in f64, bit for bit as the plain loop (odd and even lengths)', () => {
    const u = uniform(21)
    for (const [C, G] of [
      [8, 2498],
      [3, 7],
      [1, 1],
    ]) {
      const g = Float32Array.from({ length: C * G }, () => (u() - 0.5) * 10 ** (8 * u() - 4))
      const w = Float64Array.from({ length: C }, () => u())
      // the reference: for every k, ((0 + w_0·g_0,k) + w_1·g_1,k) + …, rounded once to f32
      const want = new Float32Array(G)
      for (let k = 0; k < G; k++) {
        let s = 0
        for (let k2 = 0; k2 < C; k2++) s += w[k2] * g[k2 * G + k]
        want[k] = s
      }
      const got = c.scoped(() => {
        const out = c.allocF32(G)
        c.fn<(s: number, C: number, G: number, w: number, o: number) => void>('chunk_sum')(c.putF32(g), C, G, c.putF64(w), out)
        return c.f32(out, G).slice()
      })
      expect(bits(got)).toEqual(bits(want))
    }
  })

  it('of a batch give the chunk kernels’ results, weighted n_c/B and summed in order', () => {
    const model = randomMlp(spec, 8)
    const B = 100
    const b = batchOf(B, uniform(9))
    const want = chunkwise(B, (start, n) => {
      const c0 = b.chunk(start, n)
      const r = cfmLossGrad(c, model, c0.t, c0.xt, c0.u)
      return { loss: r.loss, grads: [r.grad] }
    })
    for (const pool of pools) {
      const grad = new Float32Array(P)
      expect(pool.cfm(spec, model.params, b.t, b.xt, b.target, grad)).toBe(want.value)
      expect(bits(grad)).toEqual(bits(want.grads[0]))
    }
  })

  it('start the asked number of threads, at most one per chunk', () => {
    expect(pools.map((p) => p.threads)).toEqual([1, 2, 3])
    expect(pools.map((p) => p.chunks)).toEqual([8, 8, 8])
  })
})

describe('CFM', () => {
  it('trains to the same bits on 1, 2 and 3 threads, and without a pool', () => {
    const alone = trainCfm(c, training)
    for (const parallel of pools) {
      const r = trainCfm(c, { ...training, parallel })
      expect(bits(r.model.params)).toEqual(bits(alone.model.params))
      expect(r.losses).toEqual(alone.losses)
    }
  })

  it('a chunked batch matches the unchunked kernel within f32 rounding', () => {
    const model = randomMlp(spec, 3)
    const u = uniform(4)
    const B = 1000
    const t = Float32Array.from({ length: B }, u)
    const xt = Float32Array.from({ length: 2 * B }, () => 6 * u() - 3)
    const target = Float32Array.from({ length: 2 * B }, () => 4 * u() - 2)
    const whole = cfmLossGrad(c, model, t, fromSoa(xt, B, 2), fromSoa(target, B, 2))
    const grad = new Float32Array(P)
    const loss = pools[2].cfm(spec, model.params, t, xt, target, grad)
    // the per-point errors are the same; only the f64 sum of the loss and the f32 lane sums of
    // the gradient are grouped differently: ≲ 1000 · 2^-24 relative for the gradient (6e-5), far
    // less for the f64 loss
    expect(Math.abs(loss - whole.loss)).toBeLessThan(1e-12 * whole.loss)
    expect(relErr(grad, whole.grad)).toBeLessThan(1e-4)
    expect(relErr(grad, whole.grad)).toBeGreaterThan(0) // the chunks do change the rounding
  })
})

describe('VIB', () => {
  it('trains to the same bits on 1, 2 and 3 threads', () => {
    const vib = { ...training, draws: 2, stop: { window: 100 } }
    const alone = trainVib(c, vib)
    for (const parallel of pools) {
      const r = trainVib(c, { ...vib, parallel })
      expect(bits(r.mean.params)).toEqual(bits(alone.mean.params))
      expect(bits(r.rho)).toEqual(bits(alone.rho))
      expect(r.kl).toEqual(alone.kl)
    }
  })

  it('a chunked batch (noise drawn per chunk) matches the unchunked kernel within f32 rounding', () => {
    const model = randomMlp(spec, 6)
    const u = uniform(7)
    const B = 200
    const R = noiseRows(spec)
    const rho = Float32Array.from({ length: P }, () => -3 + u())
    const t = Float32Array.from({ length: B }, u)
    const xt = Float32Array.from({ length: 2 * B }, () => 6 * u() - 3)
    const target = Float32Array.from({ length: 2 * B }, () => 4 * u() - 2)
    const noise = { seed: 9, stream: VIB_STREAMS.noise, start: 1234 }
    const eps = fromSoa(vibNoise(c, noise.seed, noise.stream, noise.start, B, R), B, R)
    const whole = vibLossGrad(c, model, rho, t, fromSoa(xt, B, 2), fromSoa(target, B, 2), eps)
    const gMu = new Float32Array(P)
    const gRho = new Float32Array(P)
    const { a, chain } = vibPrepared(c, rho)
    const loss = pools[1].variational('vib', spec, model.params, a, chain, t, xt, target, noise, gMu, gRho)
    // same per-point noise and errors (vib_noise is counter-based per point); the sums are grouped
    // differently: 200 · 2^-24 ≈ 1e-5 relative for the f32 gradients
    expect(Math.abs(loss - whole.loss)).toBeLessThan(1e-12 * whole.loss)
    expect(relErr(gMu, whole.gradMu)).toBeLessThan(1e-4)
    expect(relErr(gRho, whole.gradRho)).toBeLessThan(1e-4)
  })

  it('a chunked batch is the public kernel’s chunks (σ formed once per batch), weighted and summed in order, bit for bit', () => {
    const model = randomMlp(spec, 16)
    const u = uniform(17)
    const B = 100
    const R = noiseRows(spec)
    const rho = Float32Array.from({ length: P }, () => -4 + 2 * u())
    const b = batchOf(B, u)
    const noise = { seed: 3, stream: VIB_STREAMS.noise, start: 77 }
    const eps = fromSoa(vibNoise(c, noise.seed, noise.stream, noise.start, B, R), B, R)
    const want = chunkwise(B, (start, n) => {
      const c0 = b.chunk(start, n)
      const r = vibLossGrad(c, model, rho, c0.t, c0.xt, c0.u, eps.subarray(start * R, (start + n) * R))
      return { loss: r.loss, grads: [r.gradMu, r.gradRho] }
    })
    const { a, chain } = vibPrepared(c, rho)
    for (const pool of pools) {
      const gMu = new Float32Array(P)
      const gRho = new Float32Array(P)
      expect(pool.variational('vib', spec, model.params, a, chain, b.t, b.xt, b.target, noise, gMu, gRho)).toBe(want.value)
      expect(bits(gMu)).toEqual(bits(want.grads[0]))
      expect(bits(gRho)).toEqual(bits(want.grads[1]))
    }
  })
})

describe('VIB with flipout', () => {
  it('trains to the same bits on 1, 2 and 3 threads', () => {
    const vib = { ...training, draws: 2, stop: { window: 100 }, estimator: 'flipout' } as const
    const alone = trainVib(c, vib)
    for (const parallel of pools) {
      const r = trainVib(c, { ...vib, parallel })
      expect(bits(r.mean.params)).toEqual(bits(alone.mean.params))
      expect(bits(r.rho)).toEqual(bits(alone.rho))
    }
  })

  it('a chunked batch is the public kernel’s chunks (signs drawn per chunk, one weight noise), weighted and summed in order, bit for bit', () => {
    const model = randomMlp(spec, 26)
    const u = uniform(27)
    const B = 100
    const rho = Float32Array.from({ length: P }, () => -4 + 2 * u())
    const eps = Float32Array.from({ length: P }, () => 2 * u() - 1)
    const b = batchOf(B, u)
    const noise = { seed: 4, stream: VIB_STREAMS.flipoutSigns, start: 500 }
    const want = chunkwise(B, (start, n) => {
      const c0 = b.chunk(start, n)
      const r = flipoutLossGrad(c, model, rho, eps, c0.t, c0.xt, c0.u, { ...noise, start: noise.start + start })
      return { loss: r.loss, grads: [r.gradMu, r.gradRho] }
    })
    const { a, chain } = vibPrepared(c, rho, eps)
    for (const pool of pools) {
      const gMu = new Float32Array(P)
      const gRho = new Float32Array(P)
      expect(pool.variational('flipout', spec, model.params, a, chain, b.t, b.xt, b.target, noise, gMu, gRho)).toBe(want.value)
      expect(bits(gMu)).toEqual(bits(want.grads[0]))
      expect(bits(gRho)).toEqual(bits(want.grads[1]))
    }
  })
})

describe('AdamMCMC energy', () => {
  const solver = { kind: 'rk4', steps: 4 } as const
  const options = { spec, data, batchSize: 100, batchesPerEpoch: 3, seed: 2, solver }

  it('gives the same energy and gradient bits on 1, 2 and 3 threads', () => {
    const theta = randomMlp(spec, 8, 0.5).params
    const run = (parallel?: ChunkedGradient) => {
      const energy = mcmcEnergy(c, { ...options, parallel })
      return [0, 1, 2].map((i) => {
        const e = energy(theta, i)
        return { energy: e.energy, grad: bits(e.grad).slice() }
      })
    }
    const alone = run()
    for (const parallel of pools) expect(run(parallel)).toEqual(alone)
  })

  it('a chunked batch matches the unchunked kernel (scale N/B on every chunk) within f32 rounding', () => {
    const model = randomMlp(spec, 10, 0.5)
    const B = 100
    const x = data.subarray(0, 2 * B)
    const scale = 300 / B
    const whole = energyGrad(c, model, x, { solver: 'rk4', steps: 4 }, scale)
    const grad = new Float32Array(P)
    const xs = new Float32Array(2 * B)
    for (let p = 0; p < B; p++) for (let j = 0; j < 2; j++) xs[j * B + p] = x[2 * p + j]
    const energy = pools[2].energy(spec, model.params, xs, { solver: 'rk4', steps: 4 }, scale, grad)
    // log p of each point does not depend on its neighbours; the f64 sum over points and the f32
    // lane sums of the gradient are grouped differently (≲ 100 · 2^-24 relative for the gradient)
    expect(Math.abs(energy - whole.energy)).toBeLessThan(1e-9 * Math.abs(whole.energy))
    expect(relErr(grad, whole.grad)).toBeLessThan(1e-4)
  })
})

describe('failures', () => {
  it('an error in a worker thread surfaces as an Error naming the thread and the chunk; the pool stays usable', () => {
    const p = pools[1]
    const model = randomMlp(spec, 12, 0.5)
    const xs = data.subarray(0, 200)
    const grad = new Float32Array(P)
    // 100 000 RK4 steps need far more stage caches than the kernel may keep: every thread refuses
    expect(() => p.energy(spec, model.params, xs, { solver: 'rk4', steps: 100_000 }, 1, grad)).toThrow(
      /worker thread 1, chunk 1: RangeError: the energy gradient with 100000 rk4 steps needs/,
    )
    expect(() => pools[2].energy(spec, model.params, xs, { solver: 'rk4', steps: 100_000 }, 1, grad)).toThrow(
      /thread 0 \(the calling thread\), chunk 0: .*worker thread 2, chunk 2: RangeError/,
    )
    const e = p.energy(spec, model.params, xs, { solver: 'rk4', steps: 2 }, 1, grad)
    expect(e).toBeCloseTo(energyGrad(c, model, fromSoa(xs, 100, 2), { solver: 'rk4', steps: 2 }).energy, 6)
  })

  it('refuses bad options and use after close', async () => {
    await expect(ChunkedGradient.start({ threads: 1.5 })).rejects.toThrow(/threads must be an integer/)
    expect(() => ChunkedGradient.inThread({ chunks: 0 })).toThrow(/chunks must be an integer from 1/)
    expect(() => trainCfm(c, { ...training, chunks: 4, parallel: pools[0] })).toThrow(/chunks is 4 but the parallel gradient cuts batches into 8/)
    const g = await ChunkedGradient.start({ threads: 2, chunks: 2, variant: c.variant })
    await g.close()
    expect(() => g.cfm(spec, new Float32Array(P), new Float32Array(4), new Float32Array(8), new Float32Array(8), new Float32Array(P))).toThrow(
      /used after close/,
    )
  }, 20_000)
})
