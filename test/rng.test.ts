import { describe, expect, it } from 'vitest'
import {
  normals,
  normalsPtr,
  philoxBlock,
  uniforms,
  uniformsF32Ptr,
  uniformsF64Ptr,
  uniformsMatrix,
} from '../shared/core/rng.ts'
import { Core, relaxedSimdSupported } from '../shared/core/wasm.ts'
import { normal, philox, uniformF32, uniformF64 } from './reference/rng.ts'
import { KS_CRITICAL_0_001, correlation, ksStatistic, moments, normalCdf } from './reference/stats.ts'

const c = new Core('simd')

// Random123 kat_vectors for philox4x32_10: counter, key, expected output.
const KAT: ReadonlyArray<readonly [[number, number, number, number], [number, number], number[]]> = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
]

/** Distance in f32 units in the last place. */
const ulpsF32 = (a: number, b: number): number => {
  const f = new Float32Array([a, b])
  const i = new Int32Array(f.buffer)
  const key = (k: number) => (k < 0 ? -(k & 0x7fffffff) : k)
  return Math.abs(key(i[0]) - key(i[1]))
}

describe('rng', () => {
  // -------------------------------------------------------------------------------------
  // Philox4x32-10
  // -------------------------------------------------------------------------------------

  it('philox (reference) matches the Random123 known answers', () => {
    for (const [counter, [k0, k1], expected] of KAT) expect(philox(k0, k1, counter)).toEqual(expected)
  })

  it('philoxBlock (kernel) matches the Random123 known answers', () => {
    for (const [counter, [k0, k1], expected] of KAT)
      expect(Array.from(philoxBlock(c, { seed: k0, stream: k1 }, counter))).toEqual(expected)
  })

  it('philoxBlock equals the reference on arbitrary keys and counters', () => {
    const words = uniformsMatrix(c, { seed: 99, stream: 5 }, 0, 50, 6).map((u) => Math.floor(u * 2 ** 32))
    for (let r = 0; r < 50; r++) {
      const w = Array.from(words.subarray(6 * r, 6 * r + 6))
      const counter: [number, number, number, number] = [w[2], w[3], w[4], w[5]]
      expect(Array.from(philoxBlock(c, { seed: w[0], stream: w[1] }, counter))).toEqual(
        philox(w[0], w[1], counter),
      )
    }
  })

  // -------------------------------------------------------------------------------------
  // kernel against reference
  // -------------------------------------------------------------------------------------

  // Index ranges around 0, across the 2^32 carry into counter word 1, and just below 2^53.
  const ranges: ReadonlyArray<readonly [number, number]> = [
    [0, 40],
    [2 ** 32 - 7, 14],
    [2 ** 53 - 9, 9],
  ]

  it.each(ranges)('uniforms f64 and f32 equal the reference bit for bit (start %d, n %d)', (start, n) => {
    const s = { seed: 0xdeadbeef, stream: 3 }
    const d = 3
    const [u64, u32] = c.scoped(() => {
      const p = c.allocF64(n * d)
      const q = c.allocF32(n * d)
      uniformsF64Ptr(c, s, start, n, d, p)
      uniformsF32Ptr(c, s, start, n, d, q)
      return [c.f64(p, n * d).slice(), c.f32(q, n * d).slice()]
    })
    for (let j = 0; j < d; j++)
      for (let i = 0; i < n; i++) {
        expect(u64[j * n + i]).toBe(uniformF64(s.seed, s.stream, start + i, j))
        expect(u32[j * n + i]).toBe(uniformF32(s.seed, s.stream, start + i, j))
      }
  })

  it.each(ranges)('normals equal the reference within 1 f32 ulp (start %d, n %d)', (start, n) => {
    // AS std (musl) and V8 (fdlibm) compute log/cos/sin with different f64 algorithms (each within
    // 1 ulp), so a result lying at an f32 rounding boundary may round either way: allow 1 f32 ulp.
    const s = { seed: 12345, stream: 0xffffffff }
    const d = 5
    const z = normals(c, s, start, n, d)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++)
        expect(ulpsF32(z[i * d + j], normal(s.seed, s.stream, start + i, j))).toBeLessThanOrEqual(1)
  })

  it('normals are the Box–Muller transform of the uniforms of the same coordinates', () => {
    const s = { seed: 4, stream: 2 }
    const n = 500
    const z = normals(c, s, 0, n, 4)
    const u = uniformsMatrix(c, s, 0, n, 4)
    for (let i = 0; i < n; i++)
      for (const j of [0, 2]) {
        const rho = Math.sqrt(-2 * Math.log(u[4 * i + j]))
        const theta = 2 * Math.PI * u[4 * i + j + 1]
        // rounding to f32 dominates: relative 2^-24, plus 1e-15 absolute for the f64 steps
        expect(Math.abs(z[4 * i + j] - rho * Math.cos(theta))).toBeLessThanOrEqual(rho * 2 ** -24 + 1e-15)
        expect(Math.abs(z[4 * i + j + 1] - rho * Math.sin(theta))).toBeLessThanOrEqual(rho * 2 ** -24 + 1e-15)
      }
  })

  it('normalsPtr writes structure-of-arrays, normals row-major', () => {
    const s = { seed: 8, stream: 1 }
    const [n, d] = [37, 3]
    const soa = c.scoped(() => {
      const p = c.allocF32(n * d)
      normalsPtr(c, s, 100, n, d, p)
      return c.f32(p, n * d).slice()
    })
    const rows = normals(c, s, 100, n, d)
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) expect(soa[j * n + i]).toBe(rows[i * d + j])
  })

  it.skipIf(!relaxedSimdSupported())('the relaxed-SIMD core gives the same bits', () => {
    const s = { seed: 77, stream: 9 }
    expect(normals(new Core('relaxed'), s, 5, 1000, 2)).toEqual(normals(c, s, 5, 1000, 2))
  })

  // -------------------------------------------------------------------------------------
  // counter-based split
  // -------------------------------------------------------------------------------------

  it('generating [0, N) equals [0, a) followed by [a, N) for random a', () => {
    const s = { seed: 2024, stream: 17 }
    const N = 3001
    const cuts = uniforms(c, { seed: 1, stream: 1 }, 0, 8).map((u) => Math.floor(u * (N + 1)))
    for (const d of [1, 2, 3]) {
      const whole = normals(c, s, 0, N, d)
      const wholeU = uniformsMatrix(c, s, 0, N, d)
      for (const a of [0, N, ...cuts]) {
        const joined = new Float32Array(N * d)
        joined.set(normals(c, s, 0, a, d))
        joined.set(normals(c, s, a, N - a, d), a * d)
        expect(joined).toEqual(whole)
        const joinedU = new Float64Array(N * d)
        joinedU.set(uniformsMatrix(c, s, 0, a, d))
        joinedU.set(uniformsMatrix(c, s, a, N - a, d), a * d)
        expect(joinedU).toEqual(wholeU)
      }
    }
  })

  it('a point does not depend on how many dimensions are drawn', () => {
    const s = { seed: 3, stream: 3 }
    const z2 = normals(c, s, 10, 200, 2)
    const z5 = normals(c, s, 10, 200, 5)
    for (let i = 0; i < 200; i++) expect([z5[5 * i], z5[5 * i + 1]]).toEqual([z2[2 * i], z2[2 * i + 1]])
  })

  // -------------------------------------------------------------------------------------
  // statistics
  // -------------------------------------------------------------------------------------

  const N = 1_000_000
  const z = normals(c, { seed: 20240601, stream: 0 }, 0, N / 2, 2)

  it('moments of 10^6 normals', () => {
    // Standard errors at n = 10^6 for a normal: mean 1/sqrt(n) = 1e-3, variance sqrt(2/n) = 1.41e-3,
    // skewness sqrt(6/n) = 2.45e-3, excess kurtosis sqrt(24/n) = 4.9e-3; allow 4 standard errors
    // (a correct generator exceeds one of them with probability about 2.5e-4).
    const m = moments(z)
    expect(Math.abs(m.mean)).toBeLessThan(4 * 1e-3)
    expect(Math.abs(m.variance - 1)).toBeLessThan(4 * 1.414e-3)
    expect(Math.abs(m.skewness)).toBeLessThan(4 * 2.449e-3)
    expect(Math.abs(m.kurtosis)).toBeLessThan(4 * 4.899e-3)
  })

  it('10^6 normals pass a Kolmogorov–Smirnov test against Φ', () => {
    expect(Math.sqrt(N) * ksStatistic(z, normalCdf)).toBeLessThan(KS_CRITICAL_0_001)
  })

  it('the two normals of one block are uncorrelated', () => {
    const even = z.filter((_, k) => k % 2 === 0)
    const odd = z.filter((_, k) => k % 2 === 1)
    // standard error of a null correlation is 1/sqrt(n); allow 4 of them
    expect(Math.abs(correlation(even, odd))).toBeLessThan(4 / Math.sqrt(N / 2))
  })

  it('10^6 uniforms pass a Kolmogorov–Smirnov test against U(0, 1) and lie in the open interval', () => {
    const u = uniforms(c, { seed: 5, stream: 6 }, 0, N)
    let lo = 1
    let hi = 0
    for (const x of u) {
      lo = Math.min(lo, x)
      hi = Math.max(hi, x)
    }
    expect(lo).toBeGreaterThan(0)
    expect(hi).toBeLessThan(1)
    expect(Math.sqrt(N) * ksStatistic(u, (x) => x)).toBeLessThan(KS_CRITICAL_0_001)
  })

  it('two seeds and two streams give different, uncorrelated draws', () => {
    const n = 100_000
    const a = normals(c, { seed: 1, stream: 0 }, 0, n, 1)
    const b = normals(c, { seed: 2, stream: 0 }, 0, n, 1)
    const d = normals(c, { seed: 1, stream: 1 }, 0, n, 1)
    // a float equal by chance: about n·(density of f32 values) ≈ none; require almost all different
    const same = (x: Float32Array, y: Float32Array) => x.filter((v, i) => v === y[i]).length
    expect(same(a, b)).toBeLessThan(5)
    expect(same(a, d)).toBeLessThan(5)
    // null correlation standard error 1/sqrt(n); allow 4 of them
    expect(Math.abs(correlation(a, b))).toBeLessThan(4 / Math.sqrt(n))
    expect(Math.abs(correlation(a, d))).toBeLessThan(4 / Math.sqrt(n))
  })

  // -------------------------------------------------------------------------------------
  // validation
  // -------------------------------------------------------------------------------------

  it('rejects bad seeds, streams, starts, counts and dimensions', () => {
    const ok = { seed: 1, stream: 1 }
    expect(() => normals(c, { seed: -1, stream: 0 }, 0, 1, 1)).toThrow(/seed/)
    expect(() => normals(c, { seed: 2 ** 32, stream: 0 }, 0, 1, 1)).toThrow(/seed/)
    expect(() => normals(c, { seed: 1.5, stream: 0 }, 0, 1, 1)).toThrow(/seed/)
    expect(() => normals(c, { seed: 0, stream: 2 ** 32 }, 0, 1, 1)).toThrow(/stream/)
    expect(() => normals(c, { seed: 0, stream: NaN }, 0, 1, 1)).toThrow(/stream/)
    expect(() => normals(c, ok, -1, 1, 1)).toThrow(/start/)
    expect(() => normals(c, ok, 0.5, 1, 1)).toThrow(/start/)
    expect(() => normals(c, ok, 2 ** 53 - 1, 2, 1)).toThrow(/start/)
    expect(() => uniforms(c, ok, 0, -3)).toThrow(/count/)
    expect(() => normals(c, ok, 0, 1, 0)).toThrow(/dimension/)
    expect(() => philoxBlock(c, ok, [0, 0, 2 ** 32, 0])).toThrow(/counter word 2/)
    expect(normals(c, ok, 2 ** 53 - 1, 1, 1)).toHaveLength(1)
    expect(normals(c, ok, 0, 0, 3)).toHaveLength(0)
  })
})
