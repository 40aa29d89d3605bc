/**
 * Counter-based random numbers from the compute core (wasm/assembly/rng.ts): Philox4x32-10 keyed by
 * `(seed, stream)`, counted by point index and dimension block.
 *
 * Point `i` of stream `k` under seed `s` is a pure function of `(s, k, i)`: generating points
 * `[0, N)` in one call equals `[0, a)` followed by `[a, N)`, in any worker or process, whatever the
 * shard size. The exact bit mapping is documented in the kernel's module header.
 */
import type { Core } from './wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One random stream: the Philox key `(seed, stream)`, two integers in `[0, 2^32)`. */
export interface Stream {
  readonly seed: number
  readonly stream: number
}

type Fill = (seed: number, stream: number, start: number, n: number, d: number, outPtr: number) => void
type PhiloxKernel = (k0: number, k1: number, c0: number, c1: number, c2: number, c3: number, out: number) => void

/** Largest point index + 1: indices are exact integers in f64. */
export const MAX_INDEX = 2 ** 53

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const isU32 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x < 2 ** 32

/** Throws a RangeError naming the argument when `s`, `start`, `n` or `d` is out of range. */
export const checkRange = (s: Stream, start: number, n: number, d: number): void => {
  if (!isU32(s.seed)) throw new RangeError(`rng: seed must be an integer in [0, 2^32), got ${s.seed}`)
  if (!isU32(s.stream)) throw new RangeError(`rng: stream must be an integer in [0, 2^32), got ${s.stream}`)
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1)
    throw new RangeError(`rng: point count n must be an integer in [0, 2^31), got ${n}`)
  // start > 2^53 − n rather than start + n > 2^53: the sum may round down to 2^53
  if (!Number.isInteger(start) || start < 0 || start > MAX_INDEX - n)
    throw new RangeError(
      `rng: start must be an integer with 0 ≤ start and start + n ≤ 2^53, got start ${start}, n ${n}`,
    )
  if (!Number.isInteger(d) || d < 1 || d > 2 ** 20)
    throw new RangeError(`rng: dimension d must be an integer in [1, 2^20], got ${d}`)
}

// -------------------------------------------------------------------------------------
// normals
// -------------------------------------------------------------------------------------

/**
 * Writes standard normals for points `[start, start + n)` of stream `s`, `d` dimensions, at
 * `outPtr` as f32 structure-of-arrays: dimension `j` of point `start + i` at index `j·n + i`.
 */
export const normalsPtr = (core: Core, s: Stream, start: number, n: number, d: number, outPtr: number): void => {
  checkRange(s, start, n, d)
  core.fn<Fill>('rngNormalsF32')(s.seed, s.stream, start, n, d, outPtr)
}

/**
 * Standard normals for points `[start, start + n)` of stream `s`, row-major `[n, d]`.
 *
 * @example
 * const z = normals(core(), { seed: 7, stream: 0 }, 0, 1000, 2) // 1000 latent points in 2D
 */
export const normals = (core: Core, s: Stream, start: number, n: number, d: number): Float32Array => {
  checkRange(s, start, n, d)
  return core.scoped(() => {
    const p = core.allocF32(n * d)
    core.fn<Fill>('rngNormalsF32')(s.seed, s.stream, start, n, d, p)
    return transpose(core.f32(p, n * d), n, d, new Float32Array(n * d))
  })
}

// -------------------------------------------------------------------------------------
// uniforms
// -------------------------------------------------------------------------------------

/**
 * Writes f64 uniforms in the open interval (0, 1) (52 random bits each) for points
 * `[start, start + n)`, `d` dimensions, at `outPtr`, structure-of-arrays (`j·n + i`).
 */
export const uniformsF64Ptr = (core: Core, s: Stream, start: number, n: number, d: number, outPtr: number): void => {
  checkRange(s, start, n, d)
  core.fn<Fill>('rngUniformsF64')(s.seed, s.stream, start, n, d, outPtr)
}

/**
 * Writes f32 uniforms in the open interval (0, 1) (23 random bits each, the leading bits of the f64
 * uniforms of the same coordinates) at `outPtr`, structure-of-arrays (`j·n + i`).
 */
export const uniformsF32Ptr = (core: Core, s: Stream, start: number, n: number, d: number, outPtr: number): void => {
  checkRange(s, start, n, d)
  core.fn<Fill>('rngUniformsF32')(s.seed, s.stream, start, n, d, outPtr)
}

/** f64 uniforms in (0, 1), one per index `start … start + n − 1` (dimension 0 of each point). */
export const uniforms = (core: Core, s: Stream, start: number, n: number): Float64Array =>
  uniformsMatrix(core, s, start, n, 1)

/** f64 uniforms in (0, 1) for points `[start, start + n)`, `d` dimensions, row-major `[n, d]`. */
export const uniformsMatrix = (core: Core, s: Stream, start: number, n: number, d: number): Float64Array => {
  checkRange(s, start, n, d)
  return core.scoped(() => {
    const p = core.allocF64(n * d)
    core.fn<Fill>('rngUniformsF64')(s.seed, s.stream, start, n, d, p)
    return transpose(core.f64(p, n * d), n, d, new Float64Array(n * d))
  })
}

// -------------------------------------------------------------------------------------
// raw blocks
// -------------------------------------------------------------------------------------

/** The kernel's Philox4x32-10 block of `counter` under key `(seed, stream)`. */
export const philoxBlock = (
  core: Core,
  s: Stream,
  counter: readonly [number, number, number, number],
): Uint32Array => {
  checkRange(s, 0, 0, 1)
  counter.forEach((c, k) => {
    if (!isU32(c)) throw new RangeError(`rng: counter word ${k} must be an integer in [0, 2^32), got ${c}`)
  })
  return core.scoped(() => {
    const p = core.allocU32(4)
    core.fn<PhiloxKernel>('rngPhilox')(s.seed, s.stream, counter[0], counter[1], counter[2], counter[3], p)
    return core.u32(p, 4).slice()
  })
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** `[d][n]` structure-of-arrays to row-major `[n][d]`. */
const transpose = <A extends Float32Array | Float64Array>(soa: A, n: number, d: number, out: A): A => {
  if (d === 1) {
    out.set(soa)
    return out
  }
  for (let j = 0; j < d; j++) {
    const row = j * n
    for (let i = 0; i < n; i++) out[i * d + j] = soa[row + i]
  }
  return out
}
