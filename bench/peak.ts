/**
 * The f32x4 peak of this CPU as WebAssembly reaches it, from the multiply-add microkernel of
 * wasm/bench/peak.ts (built by wasm/build.js into wasm/build/peak.{simd,relaxed}.wasm).
 *
 * FLOP convention: a multiply-add is 2 FLOP per lane, so an f32x4 `mul` + `add` pair or one
 * fused `relaxed_madd` is 8 FLOP; one kernel iteration (12 chains) is 96 FLOP.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Variant, resolveVariant } from '../shared/core/wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One loaded build of the microkernel. */
export interface PeakKernel {
  readonly variant: Variant
  /** Unfused `f32x4.mul` + `f32x4.add` chains; returns the sum of all accumulator lanes. */
  readonly mulAdd: (iterations: number, m: number, a: number) => number
  /** Fused `f32x4.relaxed_madd` chains in the relaxed build; `mulAdd` in the SIMD build. */
  readonly madd: (iterations: number, m: number, a: number) => number
  /** Whether `madd` fuses. */
  readonly fused: boolean
  readonly flopPerIteration: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))

/** Loads `wasm/build/peak.<variant>.wasm`; `relaxed` needs a runtime with relaxed SIMD. */
export const peakKernel = (variant: Variant): PeakKernel => {
  const v = resolveVariant(variant)
  const path = join(process.env.BAYESAMP_WASM_DIR ?? join(here, '..', 'wasm', 'build'), `peak.${v}.wasm`)
  let bytes: Uint8Array<ArrayBuffer>
  try {
    bytes = new Uint8Array(readFileSync(path))
  } catch (e) {
    throw new Error(`cannot read the ${v} peak kernel at ${path} (run npm run build): ${String(e)}`)
  }
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, unknown>
  const global = (name: string): number => (e[name] as WebAssembly.Global).value as number
  return {
    variant: v,
    mulAdd: e.peakMulAdd as PeakKernel['mulAdd'],
    madd: e.peakMadd as PeakKernel['madd'],
    fused: global('PEAK_FUSED') === 1,
    flopPerIteration: global('PEAK_FLOP_PER_ITERATION'),
  }
}

// -------------------------------------------------------------------------------------
// measurement
// -------------------------------------------------------------------------------------

/**
 * GFLOP/s of `which` chains over `iterations` iterations (about 0.1 s at 4e6 on a 3 GHz core).
 * m = 0.999, a = 0.001: every chain converges to 1, so no value leaves the normal range.
 */
export const peakGflops = (k: PeakKernel, which: 'mulAdd' | 'madd', iterations: number): number => {
  const f = k[which]
  const start = process.hrtime.bigint()
  const s = f(iterations, 0.999, 0.001)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (!Number.isFinite(s)) throw new Error(`the ${k.variant} peak kernel returned ${s}`)
  return (k.flopPerIteration * iterations) / seconds / 1e9
}
