import { describe, expect, it } from 'vitest'
import { WasmField, descriptor } from '../shared/core/field.ts'
import { Core, type Variant, relaxedSimdSupported } from '../shared/core/wasm.ts'
import {
  ACTIVATIONS,
  type Activation,
  type MlpSpec,
  PAPER_SPEC,
  inputWidth,
  parameterCount,
} from '../shared/model/spec.ts'
import { activate, fieldRef } from './reference/mlp.ts'
import { randomMlp, relErr, uniform } from './util.ts'

const variants: Variant[] = ['simd', 'relaxed']
const skipVariant = (v: Variant): boolean => v === 'relaxed' && !relaxedSimdSupported()

const sizes = [1, 3, 4, 5, 8, 13, 64, 257, 1000]

const specs: MlpSpec[] = [
  PAPER_SPEC,
  { dim: 3, hidden: [5], activation: 'elu', frequencies: 0 },
  { dim: 2, hidden: [7, 13, 4, 9], activation: 'elu', frequencies: 4 },
  { dim: 3, hidden: [33, 30], activation: 'elu', frequencies: 1 },
  { dim: 2, hidden: [1, 2, 3], activation: 'elu', frequencies: 2 },
]

describe('mlp', () => {
  // -------------------------------------------------------------------------------------
  // model
  // -------------------------------------------------------------------------------------

  it('PAPER_SPEC has 9 inputs and exactly 2498 parameters', () => {
    expect(inputWidth(PAPER_SPEC)).toBe(9)
    // (9 + 1)·32 + (32 + 1)·32 + (32 + 1)·32 + (32 + 1)·2 = 320 + 1056 + 1056 + 66
    expect(parameterCount(PAPER_SPEC)).toBe(2498)
  })

  it('the kernel counts the same parameters as the spec', () => {
    const c = new Core('simd')
    for (const spec of specs) {
      const f = new WasmField(c, randomMlp(spec, 1))
      expect(c.fn<(d: number) => number>('fieldParameterCount')(f.descPtr)).toBe(parameterCount(spec))
    }
  })

  it('descriptor', () => {
    expect(Array.from(descriptor(randomMlp({ ...PAPER_SPEC, activation: 'tanh' }, 1)))).toEqual([2, 3, 3, 2, 32, 32, 32])
  })

  it('WasmField refuses parameters of the wrong length', () => {
    const m = randomMlp(PAPER_SPEC, 1)
    expect(() => new WasmField(new Core('simd'), { spec: m.spec, params: m.params.subarray(1) })).toThrow(
      /2497 parameters, its spec needs 2498/,
    )
  })

  // -------------------------------------------------------------------------------------
  // SIMD exp and activations
  // -------------------------------------------------------------------------------------

  const apply = (c: Core, name: string, x: Float64Array, act?: number): Float32Array =>
    c.scoped(() => {
      const src = c.putF32(x)
      const dst = c.allocF32(x.length)
      if (act === undefined) c.fn<(s: number, d: number, n: number) => void>(name)(src, dst, x.length)
      else c.fn<(a: number, s: number, d: number, n: number) => void>(name)(act, src, dst, x.length)
      return c.f32(dst, x.length).slice()
    })

  /** 200 001 points evenly over [lo, hi], rounded to f32 (the reference takes the rounded input). */
  const grid = (lo: number, hi: number, n = 200_001): Float64Array =>
    Float64Array.from({ length: n }, (_, i) => Math.fround(lo + ((hi - lo) * i) / (n - 1)))

  for (const v of variants) {
    describe(v, () => {
      /** Max relative error of a kernel against a Math function over the grid. */
      const maxRel = (c: Core, name: string, x: Float64Array, want: (x: number) => number, act?: number): number => {
        const y = apply(c, name, x, act)
        let rel = 0
        for (let i = 0; i < x.length; i++) {
          const w = want(x[i])
          if (w !== 0) rel = Math.max(rel, Math.abs(y[i] - w) / Math.abs(w))
        }
        return rel
      }
      // tiny arguments ±2^-40 … ±2^-1, where expm1's relative error is hardest
      const tiny = Float64Array.from({ length: 800 }, (_, i) => (i % 2 ? 1 : -1) * Math.pow(2, -40 + (i >> 1) / 10))

      // Bound of the header of wasm/assembly/vmath.ts (measured 1.13e-7): the polynomial's 1.8e-8
      // plus a few f32 roundings of 2^-24 ≈ 6e-8 each.
      it.skipIf(skipVariant(v))('expm1 is within 2e-7 relative on [-17.5, 88]', () => {
        const c = new Core(v)
        const x = Float64Array.from([...grid(-17.5, 0), ...grid(0, 88, 50_001), ...tiny])
        expect(maxRel(c, 'vexpm1', x, Math.expm1)).toBeLessThan(2e-7)
      })

      it.skipIf(skipVariant(v))('exp is within 2e-7 relative on [-87, 88]', () => {
        const c = new Core(v)
        const x = Float64Array.from([...grid(-87, 88), ...tiny])
        expect(maxRel(c, 'vexp', x, Math.exp)).toBeLessThan(2e-7)
      })

      it.skipIf(skipVariant(v))('expm1 is -1 far left and exact at 0; exp clamps at -87; NaN propagates', () => {
        const c = new Core(v)
        const y = apply(c, 'vexpm1', Float64Array.from([-1000, -Infinity, 0, NaN, -30]))
        expect(Array.from(y.subarray(0, 3))).toEqual([-1, -1, 0])
        expect(y[3]).toBeNaN()
        expect(y[4]).toBe(-1)
        const e = apply(c, 'vexp', Float64Array.from([0, -Infinity, NaN]))
        expect(e[0]).toBe(1)
        expect(Math.abs(e[1] - Math.exp(-87)) / Math.exp(-87)).toBeLessThan(4e-7)
        expect(e[2]).toBeNaN()
      })

      // Bound of ELU's own expm1 in wasm/assembly/vmath.ts (measured 1.41e-7 plain, 1.33e-7 fused):
      // absolute, since 2ⁿ·P(f) − 1 cancels near 0; a layer sums O(1) terms and only sees that.
      it.skipIf(skipVariant(v))('ELU is within 2.5e-7 absolute of expm1 on x ≤ 0, exact for x > 0, NaN stays', () => {
        const c = new Core(v)
        const x = Float64Array.from([...grid(-90, 0), ...tiny.filter((t) => t < 0)])
        const y = apply(c, 'vactivate', x, 0)
        let err = 0
        for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(y[i] - Math.expm1(x[i])))
        expect(err).toBeLessThan(2.5e-7)
        const pos = Float64Array.from([...tiny.filter((t) => t > 0), ...grid(0, 1e6, 1001)])
        expect(Array.from(apply(c, 'vactivate', pos, 0))).toEqual(Array.from(pos, Math.fround))
        const special = apply(c, 'vactivate', Float64Array.from([NaN, -Infinity, -1000, 0]), 0)
        expect(special[0]).toBeNaN()
        expect(Array.from(special.subarray(1))).toEqual([-1, -1, 0])
      })

      it.skipIf(skipVariant(v))('every activation against Math within 5e-7 of max(1, |value|)', () => {
        const c = new Core(v)
        const x = grid(-25, 25, 100_001)
        ACTIVATIONS.forEach((a: Activation, code) => {
          const y = apply(c, 'vactivate', x, code)
          let err = 0
          for (let i = 0; i < x.length; i++) {
            const want = activate(a, x[i])
            err = Math.max(err, Math.abs(y[i] - want) / Math.max(1, Math.abs(want)))
          }
          // exp/expm1's 2e-7 relative plus one division and one multiplication in f32
          expect(err, a).toBeLessThan(5e-7)
        })
      })

      // ---------------------------------------------------------------------------------
      // kernel against the f64 reference
      // ---------------------------------------------------------------------------------

      // Tolerance 1e-5 in max|Δ| / max(1, max|ref|): f32 sums of ≤ 34 terms of O(1) each lose a
      // few 1e-7 per layer; 1e-5 leaves a factor ≥ 10 and still catches any wrong weight or index.
      for (const base of specs) {
        for (const activation of ACTIVATIONS) {
          const spec = { ...base, activation }
          const name = `d=${spec.dim} hidden=[${spec.hidden.join(',')}] K=${spec.frequencies} ${activation}`
          it.skipIf(skipVariant(v))(`kernel = reference, ${name}`, () => {
            const c = new Core(v)
            const m = randomMlp(spec, 7 + spec.hidden.length)
            const f = new WasmField(c, m)
            const u = uniform(99)
            for (const n of sizes) {
              const x = Float32Array.from({ length: n * spec.dim }, () => 4 * u() - 2)
              const t = Float64Array.from({ length: n }, () => u())
              const shared = 0.37
              expect(relErr(f.evaluate(shared, x), fieldRef(m, new Float64Array(n).fill(shared), x)), `shared t, n=${n}`).toBeLessThan(1e-5)
              expect(relErr(f.evaluate(t, x), fieldRef(m, t, x)), `per-point t, n=${n}`).toBeLessThan(1e-5)
            }
          })
        }
      }
    })
  }

  // -------------------------------------------------------------------------------------
  // layouts
  // -------------------------------------------------------------------------------------

  it('evaluatePtr works in SoA layout and in place', () => {
    const c = new Core('simd')
    const m = randomMlp(PAPER_SPEC, 3)
    const f = new WasmField(c, m)
    const n = 70
    const u = uniform(5)
    const x = Float32Array.from({ length: 2 * n }, () => 2 * u() - 1)
    const want = f.evaluate(0.5, x)
    c.scoped(() => {
      const p = c.allocF32(2 * n)
      const soa = c.f32(p, 2 * n)
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) soa[j * n + i] = x[i * 2 + j]
      f.evaluatePtr(0.5, p, n, p)
      const got = c.f32(p, 2 * n)
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) expect(got[j * n + i]).toBe(want[i * 2 + j])
    })
  })

  it('a point gives the same value whatever its batch and position (lanes are independent)', () => {
    const f = new WasmField(new Core('simd'), randomMlp(PAPER_SPEC, 4))
    const u = uniform(6)
    const x = Float32Array.from({ length: 2 * 100 }, () => 2 * u() - 1)
    const all = f.evaluate(0.25, x)
    const one = f.evaluate(0.25, x.slice(2 * 77, 2 * 78))
    expect(Array.from(one)).toEqual(Array.from(all.subarray(2 * 77, 2 * 78)))
    expect(f.evaluate(0.25, new Float32Array(0)).length).toBe(0)
  })

  it('evaluate checks its arguments', () => {
    const f = new WasmField(new Core('simd'), randomMlp(PAPER_SPEC, 4))
    expect(() => f.evaluate(0, new Float32Array(3))).toThrow(/not a multiple of the dimension 2/)
    expect(() => f.evaluate([0, 1], new Float32Array(2))).toThrow(/t has 2 values for 1 points/)
  })
})
