/**
 * The random numbers a training draws, behind a small interface so that the generator can be
 * swapped: `Randomness` hands out uniforms and standard normals by (stream, index), as a
 * counter-based generator does, so that a training's draws are a pure function of its seed.
 *
 * `philoxRandomness` is the compute core's Philox4x32-10 (wasm/assembly/rng.ts through
 * shared/core/rng.ts) keyed by (seed, stream); the bit mapping is documented in the kernel's
 * module header:
 *   uniform i of stream k:   dimension 0 of point i, (a + ½)·2^−52 with a the top 52 bits of
 *                            words 0, 1 of Philox(counter (i mod 2^32, ⌊i / 2^32⌋, 0, 0), key (seed, k))
 *   normals of point i:      Box–Muller of the uniform dimensions 2j, 2j + 1 of the same point
 * The plain TypeScript reference of that generator lives in test/reference/rng.ts (tests only).
 */
import { normalsPtr, uniforms, uniformsF64Ptr } from '../core/rng.ts'
import type { Core } from '../core/wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A counter-based source of random numbers: every draw is a pure function of (stream, index). */
export interface Randomness {
  /** Uniforms in the open interval (0, 1) at indices [start, start + n) of `stream`. */
  uniforms(stream: number, start: number, n: number): Float64Array
  /** The same uniforms, written as f64 into the core's memory at `outPtr`. */
  uniformsPtr(stream: number, start: number, n: number, outPtr: number): void
  /**
   * Standard normals for points [start, start + n) of `stream`, `d` per point, written SoA
   * (`out[j·n + p]` is coordinate j of point start + p) as f32 into the core's memory at `outPtr`.
   */
  normalsPtr(stream: number, start: number, n: number, d: number, outPtr: number): void
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * `Randomness` from the core's Philox4x32-10 keyed by `seed` (an integer in [0, 2^32)). Stream
 * numbers, start indices and counts are validated by shared/core/rng.ts (RangeError naming the
 * argument).
 */
export const philoxRandomness = (core: Core, seed: number): Randomness => {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`)
  return {
    uniforms: (stream, start, n) => uniforms(core, { seed, stream }, start, n),
    uniformsPtr: (stream, start, n, outPtr) => uniformsF64Ptr(core, { seed, stream }, start, n, 1, outPtr),
    normalsPtr: (stream, start, n, d, outPtr) => normalsPtr(core, { seed, stream }, start, n, d, outPtr),
  }
}
