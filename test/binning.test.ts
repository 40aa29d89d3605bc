import { describe, expect, it } from 'vitest'
import { Binner, type GridSpec } from '../shared/core/binning.ts'
import { normals, uniforms } from '../shared/core/rng.ts'
import { Core } from '../shared/core/wasm.ts'
import { binAll, binOf } from './reference/binning.ts'

const c = new Core('simd')

const grid = (n: number, edges: number[], limit = 2 ** 40): GridSpec => ({
  n,
  radialEdges: Float64Array.from(edges),
  limit,
})

/** Row-major [m, 2] points: scaled normals (radii spread over several bins), with some planted
 * non-finite points and points on the axes and on the radial edges 1 and 2.5. */
const cloud = (m: number, seed: number): Float32Array => {
  const p = normals(c, { seed, stream: 0 }, 0, m, 2).map((z) => 2 * z)
  const u = uniforms(c, { seed, stream: 1 }, 0, m)
  const special = [NaN, Infinity, -Infinity, 0, 1, -2.5, 2.5, -1]
  const onEdge = [0.5, 1, 1.5, 2, 2.5, 3, 4, 5.5]
  for (let i = 0; i < m; i++) {
    // about one point in six gets one coordinate from the special list, one in six sits on an axis
    // (an angular edge) at a radius that is a radial edge of several grids
    if (u[i] < 1 / 6) p[2 * i + (i % 2)] = special[Math.floor(u[i] * 6 * special.length)]
    else if (u[i] < 2 / 6) {
      const r = onEdge[i % onEdge.length]
      const axis = Math.floor((u[i] - 1 / 6) * 24)
      p[2 * i] = [r, 0, -r, 0][axis]
      p[2 * i + 1] = [0, r, 0, -r][axis]
    }
  }
  return p
}

const grids: GridSpec[] = [
  grid(1, []),
  grid(2, [1.9]),
  grid(4, [1, 2.5, 4]),
  grid(7, [0.5, 1, 1.5, 2, 2.5, 3]),
  grid(10, [0.3, 0.6, 1, 1.4, 1.9, 2.5, 3.2, 4, 5.5]),
]

describe('binning', () => {
  // -------------------------------------------------------------------------------------
  // single points
  // -------------------------------------------------------------------------------------

  it('points exactly on radial and angular edges go to the upper bin (right-open intervals)', () => {
    // n = 4, edges 1, 2.5, 4: jr = #{e ≤ r}; jφ = ⌊4φ/2π⌋; the axes are the angular edges, and
    // atan2 at the axes times 4/2π is exactly 0, 1, 2, 3 in f64.
    const g = grid(4, [1, 2.5, 4], 100)
    const cases: Array<[number, number, number]> = [
      [1, 0, 1 * 4 + 0], // r = e₀, φ = 0
      [0, 2.5, 2 * 4 + 1], // r = e₁, φ = π/2
      [-4, 0, 3 * 4 + 2], // r = e₂ (last bin, open-ended), φ = π
      [0, -1, 1 * 4 + 3], // φ = 3π/2
      [0.5, 0.5, 0], // inside the first bins
      [0, 0, 0], // origin: r = 0, atan2(0, 0) = 0
      [1e6, 0, 3 * 4], // far out: last radial bin
      [5, -1e-30, 3 * 4 + 3], // φ = −1e-30 + 2π rounds to 2π: last angular bin
      [-3, -0, 2 * 4 + 2], // atan2(−0, −3) = −π, + 2π = π
    ]
    const b = new Binner(c, [g])
    b.accumulate(Float32Array.from(cases.flatMap(([x, y]) => [x, y])), 0)
    const expected = new Float64Array(16)
    for (const [x, y, bin] of cases) {
      expect(binOf(x, y, 4, g.radialEdges)).toBe(bin)
      expected[bin]++
    }
    expect(b.counts()[0]).toEqual(expected)
    expect(b.invalid()).toEqual([0])
  })

  it('diagonals are angular edges of an 8×8 grid and go to the upper bin', () => {
    const b = new Binner(c, [grid(8, [1, 2, 3, 4, 5, 6, 7])])
    const pts = [1, 1, -1, 1, -1, -1, 1, -1]
    b.accumulate(Float32Array.from(pts), 0)
    // r = √2 → jr = 1; φ = π/4, 3π/4, 5π/4, 7π/4 → jφ = 1, 3, 5, 7
    const counts = b.counts()[0]
    for (const jphi of [1, 3, 5, 7]) expect(counts[8 + jphi]).toBe(1)
    expect(counts.reduce((a, v) => a + v, 0)).toBe(4)
  })

  it('counts NaN and infinite points apart, never dropping them', () => {
    const b = new Binner(c, [grid(2, [1])])
    b.accumulate(Float32Array.from([NaN, 0, 0, Infinity, -Infinity, 1, 0.5, 0.5, 3, NaN, 2, 0]), 0)
    expect(b.invalid()).toEqual([4])
    const counts = b.counts()[0]
    expect(counts.reduce((a, v) => a + v, 0)).toBe(2)
    expect(counts[0]).toBe(1) // (0.5, 0.5): r < 1, φ = π/4
    expect(counts[2]).toBe(1) // (2, 0): r ≥ 1, φ = 0
  })

  // -------------------------------------------------------------------------------------
  // kernel against reference
  // -------------------------------------------------------------------------------------

  // below, at and above the tile of 256 points and a small vector width of 4
  it.each([0, 1, 3, 4, 5, 7, 8, 9, 255, 256, 257, 1000, 5000])('equals the reference for %d points', (m) => {
    const pts = cloud(m, 100 + m)
    const b = new Binner(c, grids)
    b.accumulate(pts, 0)
    const ref = binAll(pts, 0, grids)
    expect(b.counts()).toEqual(ref.counts)
    expect(b.invalid()).toEqual(ref.invalid)
    // every point of the prefix is either counted or invalid
    b.counts().forEach((k, g) => expect(k.reduce((a, v) => a + v, 0) + b.invalid()[g]).toBe(m))
  })

  // -------------------------------------------------------------------------------------
  // prefix rule and chunking
  // -------------------------------------------------------------------------------------

  it('grid b counts only the first limit_b points, whatever the chunking', () => {
    const m = 3000
    const pts = cloud(m, 7)
    const limited = grids.map((g, b) => ({ ...g, limit: [0, 1, 299, 1000, 2999][b] }))
    const ref = binAll(pts, 0, limited)

    const whole = new Binner(c, limited)
    whole.accumulate(pts, 0)
    expect(whole.counts()).toEqual(ref.counts)
    expect(whole.invalid()).toEqual(ref.invalid)
    expect(whole.counts()[0][0]).toBe(0) // limit 0 counts nothing

    // chunks of uneven sizes with their global offsets, through the SoA entry point
    const cuts = [0, 1, 2, 300, 777, 1000, 2048, 2999, 3000]
    const chunked = new Binner(c, limited)
    for (let k = 0; k + 1 < cuts.length; k++) {
      const [a, z] = [cuts[k], cuts[k + 1]]
      c.scoped(() => {
        const p = c.allocF32(2 * (z - a))
        const soa = c.f32(p, 2 * (z - a))
        for (let i = a; i < z; i++) {
          soa[i - a] = pts[2 * i]
          soa[z - a + (i - a)] = pts[2 * i + 1]
        }
        chunked.accumulatePtr(p, z - a, a)
      })
    }
    expect(chunked.counts()).toEqual(ref.counts)
    expect(chunked.invalid()).toEqual(ref.invalid)
  })

  it('a chunk at a large global offset counts only below each limit', () => {
    const pts = cloud(500, 9)
    const start = 2 ** 40 - 200
    const g = [grid(4, [1, 2.5, 4], 2 ** 40), grid(4, [1, 2.5, 4], 2 ** 41)]
    const b = new Binner(c, g)
    b.accumulate(pts, start)
    const ref = binAll(pts, start, g)
    expect(b.counts()).toEqual(ref.counts)
    expect(b.counts()[0].reduce((a, v) => a + v, 0) + b.invalid()[0]).toBe(200)
  })

  it('reset zeroes counts and invalid tallies', () => {
    const b = new Binner(c, grids)
    b.accumulate(cloud(400, 3), 0)
    b.reset()
    b.counts().forEach((k) => expect(k.every((v) => v === 0)).toBe(true))
    expect(b.invalid()).toEqual(grids.map(() => 0))
    const pts = cloud(100, 4)
    b.accumulate(pts, 0)
    expect(b.counts()).toEqual(binAll(pts, 0, grids).counts)
  })

  it('starts from zero even on dirty arena memory', () => {
    const d = new Core('simd')
    d.scoped(() => d.f64(d.allocF64(1 << 16), 1 << 16).fill(7))
    const b = new Binner(d, grids)
    b.counts().forEach((k) => expect(k.every((v) => v === 0)).toBe(true))
  })

  // -------------------------------------------------------------------------------------
  // validation
  // -------------------------------------------------------------------------------------

  it('rejects invalid grids, naming the grid', () => {
    const ok = grid(3, [1, 2])
    expect(() => new Binner(c, [])).toThrow(/at least one grid/)
    expect(() => new Binner(c, [ok, grid(0, [])])).toThrow(/grid 1: n must be/)
    expect(() => new Binner(c, [ok, { ...ok, n: 2.5 }])).toThrow(/grid 1: n must be/)
    expect(() => new Binner(c, [ok, grid(3, [1])])).toThrow(
      /grid 1 \(n = 3\): radialEdges must have n − 1 = 2 entries, got 1/,
    )
    expect(() => new Binner(c, [grid(3, [2, 1])])).toThrow(/grid 0 .*increase strictly.*edge 1/)
    expect(() => new Binner(c, [grid(3, [1, 1])])).toThrow(/increase strictly/)
    expect(() => new Binner(c, [grid(3, [1, Infinity])])).toThrow(/grid 0 .*edge 1 is not finite/)
    expect(() => new Binner(c, [grid(3, [NaN, 1])])).toThrow(/edge 0 is not finite/)
    expect(() => new Binner(c, [grid(3, [1, 2], -1)])).toThrow(/grid 0 .*limit must be/)
    expect(() => new Binner(c, [grid(3, [1, 2], 1.5)])).toThrow(/limit must be/)
    const b = new Binner(c, [ok])
    expect(() => b.accumulate(new Float32Array(3), 0)).toThrow(/row-major/)
    expect(() => b.accumulate(new Float32Array(2), -1)).toThrow(/globalStart/)
    expect(() => b.accumulatePtr(0, -1, 0)).toThrow(/point count/)
  })

  it('refuses to run once its arena memory was released', () => {
    const d = new Core('simd')
    const b = d.scoped(() => new Binner(d, [grid(2, [1])]))
    expect(() => b.counts()).toThrow(/released/)
  })
})
