/**
 * The random numbers a training draws, behind a small interface so that the generator can be
 * swapped: `Randomness` hands out uniforms and standard normals by (stream, index), as a
 * counter-based generator does, so that a training's draws are a pure function of its seed.
 *
 * `philoxRandomness` is a plain TypeScript Philox4x32-10 (Salmon, Moraes, Dror, Shaw 2011), used
 * until the core's own generator (shared/core/rng.ts) is wired in; it is correct but runs in
 * JavaScript, about 0.3 µs per draw of 4 words.
 *   uniform i of stream k:     counter (i mod 2^32, ⌊i / 2^32⌋, 0, 0), key (seed, k); words 0, 1
 *                              → a 53-bit integer m → (m + 0.5) / 2^53, in the open (0, 1)
 *   normals of point i, dims 2j, 2j + 1: counter (i mod 2^32, ⌊i / 2^32⌋, j, 0); words 0, 1
 *                              → u₁, words 2, 3 → u₂; Box–Muller √(−2 ln u₁)·(cos 2πu₂, sin 2πu₂)
 */
import type { Core } from '../core/wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A counter-based source of random numbers: every draw is a pure function of (stream, index). */
export interface Randomness {
  /** Uniforms in the open interval (0, 1) at indices [start, start + n) of `stream`. */
  uniforms(stream: number, start: number, n: number): Float64Array
  /**
   * Standard normals for points [start, start + n) of `stream`, `d` per point, written SoA
   * (`out[j·n + p]` is coordinate j of point start + p) as f32 into the core's memory at `outPtr`.
   */
  normalsPtr(stream: number, start: number, n: number, d: number, outPtr: number): void
}

// -------------------------------------------------------------------------------------
// Philox4x32-10
// -------------------------------------------------------------------------------------

const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

/** High 32 bits of the 64-bit product of two u32, from 16-bit halves (every partial sum < 2^53). */
const mulhi = (a: number, b: number): number => {
  const aH = a >>> 16
  const aL = a & 0xffff
  const bH = b >>> 16
  const bL = b & 0xffff
  const mid = aH * bL + aL * bH + ((aL * bL) >>> 16)
  return (aH * bH + Math.floor(mid / 65536)) >>> 0
}

/** Philox4x32-10 of a counter under a key; returns the 4 output words (u32). */
export const philox4x32 = (c: readonly number[], k0: number, k1: number): [number, number, number, number] => {
  let c0 = c[0] >>> 0
  let c1 = c[1] >>> 0
  let c2 = c[2] >>> 0
  let c3 = c[3] >>> 0
  let a = k0 >>> 0
  let b = k1 >>> 0
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0)
    const lo0 = Math.imul(M0, c0) >>> 0
    const hi1 = mulhi(M1, c2)
    const lo1 = Math.imul(M1, c2) >>> 0
    c0 = (hi1 ^ c1 ^ a) >>> 0
    c1 = lo1
    c2 = (hi0 ^ c3 ^ b) >>> 0
    c3 = lo0
    a = (a + W0) >>> 0
    b = (b + W1) >>> 0
  }
  return [c0, c1, c2, c3]
}

const TWO_POW_53 = 9007199254740992

/** (m + 0.5)/2^53 with m the top 53 bits of the words (hi: 27 bits, lo: 26 bits): in (0, 1). */
const open01 = (w0: number, w1: number): number => ((w0 >>> 5) * 67108864 + (w1 >>> 6) + 0.5) / TWO_POW_53

const checkSeed = (what: string, s: number): void => {
  if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new RangeError(`${what} must be an integer in [0, 2^32), got ${s}`)
}

const checkRange = (start: number, n: number): void => {
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`start index must be a non-negative integer, got ${start}`)
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`count must be a non-negative integer, got ${n}`)
}

/** `Randomness` from the TypeScript Philox4x32-10 keyed by `seed` (an integer in [0, 2^32)). */
export const philoxRandomness = (core: Core, seed: number): Randomness => {
  checkSeed('seed', seed)
  return {
    uniforms(stream, start, n) {
      checkSeed('stream', stream)
      checkRange(start, n)
      const out = new Float64Array(n)
      for (let p = 0; p < n; p++) {
        const i = start + p
        const w = philox4x32([i % 0x100000000, Math.floor(i / 0x100000000), 0, 0], seed, stream)
        out[p] = open01(w[0], w[1])
      }
      return out
    },
    normalsPtr(stream, start, n, d, outPtr) {
      checkSeed('stream', stream)
      checkRange(start, n)
      const out = core.f32(outPtr, n * d)
      for (let p = 0; p < n; p++) {
        const i = start + p
        const lo = i % 0x100000000
        const hi = Math.floor(i / 0x100000000)
        for (let j = 0; 2 * j < d; j++) {
          const w = philox4x32([lo, hi, j, 0], seed, stream)
          const r = Math.sqrt(-2 * Math.log(open01(w[0], w[1])))
          const a = 2 * Math.PI * open01(w[2], w[3])
          out[2 * j * n + p] = r * Math.cos(a)
          if (2 * j + 1 < d) out[(2 * j + 1) * n + p] = r * Math.sin(a)
        }
      }
    },
  }
}
