// The f32x4 arithmetic peak of this CPU as WebAssembly reaches it: a multiply-add microkernel.
//
// Twelve independent accumulator chains `acc ← acc · m + a` keep the multiply and add pipes busy:
// one chain's latency is that of a multiply plus an add (about 6 cycles on x86), and twelve chains
// in flight cover two multiplies and two adds per cycle. Twelve accumulators plus the two
// operands fit in the 15 vector registers V8 allocates on x86-64, so nothing spills.
//
// FLOP convention: a multiply-add is 2 FLOP per lane, 4 lanes per f32x4, so one `mul` + `add`
// pair (or one fused `relaxed_madd`) counts 8 FLOP. One iteration of either kernel below is
// 12 chains × 8 = 96 FLOP; the host divides 96 · iterations by the elapsed time.
//
// With m < 1 every chain converges to the fixed point a / (1 − m), so the values stay normal
// (no overflow, no subnormal slow paths) however many iterations run.

/** FLOP done by one iteration of `peakMulAdd` or `peakMadd`: 12 chains × 4 lanes × 2. */
export const PEAK_FLOP_PER_ITERATION: i32 = 96;

/** 1 when this build was compiled with relaxed SIMD, so that `peakMadd` fuses; 0 otherwise. */
export const PEAK_FUSED: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;

// @ts-ignore: decorator
@inline function lanesSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * Runs `iterations` rounds of 12 unfused `f32x4.mul` + `f32x4.add` chains and returns the sum of
 * every lane of every accumulator, so that the work cannot be optimized away.
 */
export function peakMulAdd(iterations: i32, m: f32, a: f32): f32 {
  const vm = f32x4.splat(m);
  const va = f32x4.splat(a);
  let c0 = f32x4.splat(1.0), c1 = f32x4.splat(1.1), c2 = f32x4.splat(1.2), c3 = f32x4.splat(1.3);
  let c4 = f32x4.splat(1.4), c5 = f32x4.splat(1.5), c6 = f32x4.splat(1.6), c7 = f32x4.splat(1.7);
  let c8 = f32x4.splat(1.8), c9 = f32x4.splat(1.9), c10 = f32x4.splat(2.0), c11 = f32x4.splat(2.1);
  for (let i = 0; i < iterations; i++) {
    c0 = f32x4.add(f32x4.mul(c0, vm), va);
    c1 = f32x4.add(f32x4.mul(c1, vm), va);
    c2 = f32x4.add(f32x4.mul(c2, vm), va);
    c3 = f32x4.add(f32x4.mul(c3, vm), va);
    c4 = f32x4.add(f32x4.mul(c4, vm), va);
    c5 = f32x4.add(f32x4.mul(c5, vm), va);
    c6 = f32x4.add(f32x4.mul(c6, vm), va);
    c7 = f32x4.add(f32x4.mul(c7, vm), va);
    c8 = f32x4.add(f32x4.mul(c8, vm), va);
    c9 = f32x4.add(f32x4.mul(c9, vm), va);
    c10 = f32x4.add(f32x4.mul(c10, vm), va);
    c11 = f32x4.add(f32x4.mul(c11, vm), va);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7))),
    f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)),
  );
  return lanesSum(s);
}

/**
 * As `peakMulAdd`, with each `mul` + `add` pair fused into one `f32x4.relaxed_madd` in the
 * relaxed-SIMD build (an FMA on x86 with FMA3); in the plain SIMD build it is `peakMulAdd`.
 */
export function peakMadd(iterations: i32, m: f32, a: f32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return peakMulAdd(iterations, m, a);
  const vm = f32x4.splat(m);
  const va = f32x4.splat(a);
  let c0 = f32x4.splat(1.0), c1 = f32x4.splat(1.1), c2 = f32x4.splat(1.2), c3 = f32x4.splat(1.3);
  let c4 = f32x4.splat(1.4), c5 = f32x4.splat(1.5), c6 = f32x4.splat(1.6), c7 = f32x4.splat(1.7);
  let c8 = f32x4.splat(1.8), c9 = f32x4.splat(1.9), c10 = f32x4.splat(2.0), c11 = f32x4.splat(2.1);
  for (let i = 0; i < iterations; i++) {
    c0 = f32x4.relaxed_madd(c0, vm, va);
    c1 = f32x4.relaxed_madd(c1, vm, va);
    c2 = f32x4.relaxed_madd(c2, vm, va);
    c3 = f32x4.relaxed_madd(c3, vm, va);
    c4 = f32x4.relaxed_madd(c4, vm, va);
    c5 = f32x4.relaxed_madd(c5, vm, va);
    c6 = f32x4.relaxed_madd(c6, vm, va);
    c7 = f32x4.relaxed_madd(c7, vm, va);
    c8 = f32x4.relaxed_madd(c8, vm, va);
    c9 = f32x4.relaxed_madd(c9, vm, va);
    c10 = f32x4.relaxed_madd(c10, vm, va);
    c11 = f32x4.relaxed_madd(c11, vm, va);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7))),
    f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11)),
  );
  return lanesSum(s);
}
