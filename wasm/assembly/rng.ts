// Counter-based random numbers: Philox4x32-10 and the uniforms and standard normals derived from it.
//
// Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC11 (2011), https://doi.org/10.1145/2063384.2063405; constants and round function as
// in Random123's philox.h.
//
// ## Mapping (every value is a pure function of (seed, stream, i, dimension))
//
//   key     = (k0, k1)         = (seed, stream)                 both u32
//   counter = (c0, c1, c2, c3) = (i mod 2^32, ⌊i / 2^32⌋, j, 0)  i: point index < 2^53, j: block
//   block j of point i serves dimensions 2j and 2j+1:
//     (x0, x1, x2, x3) := Philox4x32-10(counter, key)
//     a := x0·2^20 + ⌊x1 / 2^12⌋,  b := x2·2^20 + ⌊x3 / 2^12⌋        (52-bit integers)
//     uniform f64, dimension 2j   : U = (a + ½)·2^-52  ∈ [2^-53, 1 − 2^-53]  (exact, open (0,1))
//     uniform f64, dimension 2j+1 : V = (b + ½)·2^-52
//     uniform f32, dimension 2j   : (⌊x0 / 2^9⌋ + ½)·2^-23 ∈ [2^-24, 1 − 2^-24] (U's top 23 bits)
//     uniform f32, dimension 2j+1 : (⌊x2 / 2^9⌋ + ½)·2^-23
//     normal, dimension 2j        : ρ·cos(2πV),  ρ = sqrt(−2 ln U)  (Box–Muller, f64, then f32)
//     normal, dimension 2j+1      : ρ·sin(2πV)
//   (ln, cos and sin are vmath.ts's f64x2 polynomials, a few f64 ulp from exact: the f32 normals
//   agree with Box–Muller through Math.log/cos/sin rounded to f32, tested within 1 ulp)
//   For odd d the second half of the last block is unused.
//
// Because nothing depends on the range requested, generating points [0, N) in one call equals
// [0, a) then [a, N), in any process. Integer arithmetic and the plain (unfused) f64 polynomials are
// deterministic, so the SIMD and relaxed-SIMD builds agree bit for bit. |normal| ≤ sqrt(106 ln 2) ≈
// 8.57 since U ≥ 2^-53.
//
// Kernels write structure-of-arrays output: value (point start+i, dimension j) at out[j·n + i].
// They never allocate and never throw; the host validates seed, stream, start, n and d.

import { SINCOS_OUT, sincosPi2, storeLanes, vlogF64x2 } from "./vmath";

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const PHILOX_M0: u64 = 0xd2511f53; // round multiplier for c0
const PHILOX_M1: u64 = 0xcd9e8d57; // round multiplier for c2
const PHILOX_W0: u32 = 0x9e3779b9; // key bump, golden ratio
const PHILOX_W1: u32 = 0xbb67ae85; // key bump, sqrt(3) − 1

const Ox1p_52: f64 = reinterpret<f64>(0x3cb0000000000000); // 2^-52
const Ox1p_23: f32 = reinterpret<f32>(0x34000000); // 2^-23

// -------------------------------------------------------------------------------------
// Philox4x32-10
// -------------------------------------------------------------------------------------

// The block of the last `philoxBlock` call; read by the kernels through these globals.
let x0: u32 = 0;
let x1: u32 = 0;
let x2: u32 = 0;
let x3: u32 = 0;

// Ten rounds of Philox4x32 on (c0, c1, c2, c3) under key (k0, k1); result in x0…x3.
// One round: (hi0, lo0) := M0·c0, (hi1, lo1) := M1·c2 (64-bit products),
//   c := (hi1 ⊕ c1 ⊕ k0, lo1, hi0 ⊕ c3 ⊕ k1, lo0); then k := k + (W0, W1) (mod 2^32).
// @ts-ignore: decorator
@inline
function philoxBlock(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32): void {
  for (let round = 0; round < 10; round++) {
    const p0 = PHILOX_M0 * <u64>c0;
    const p1 = PHILOX_M1 * <u64>c2;
    const n0 = <u32>(p1 >> 32) ^ c1 ^ k0;
    const n1 = <u32>p1;
    const n2 = <u32>(p0 >> 32) ^ c3 ^ k1;
    const n3 = <u32>p0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  x0 = c0;
  x1 = c1;
  x2 = c2;
  x3 = c3;
}

// U := (a + ½)·2^-52 with a the top 52 of the 64 bits (hi, lo): exact, since a + ½ has 53 bits.
// @ts-ignore: decorator
@inline
function uniform52(hi: u32, lo: u32): f64 {
  const a = (<u64>hi << 20) | <u64>(lo >> 12);
  return (<f64>a + 0.5) * Ox1p_52;
}

// (⌊hi / 2^9⌋ + ½)·2^-23: exact in f32 (24 significant bits), strictly inside (0, 1).
// @ts-ignore: decorator
@inline
function uniform23(hi: u32): f32 {
  return (<f32>(hi >> 9) + 0.5) * Ox1p_23;
}

// Four counters at once: lane q of (c0, c1) holds point first + q, every lane the same block j; the
// same rounds as philoxBlock, the 32×32→64-bit products by extmul and their halves gathered by a
// shuffle. The ten round keys are splatted once per call into PHILOX_KEYS (philoxKeys); the four
// output words land in PHILOX_OUT (16 bytes each, lane q for point first + q).
const PHILOX_KEYS: usize = memory.data(320, 16);
export const PHILOX_OUT: usize = memory.data(64, 16);

export function philoxKeys(k0: u32, k1: u32): void {
  for (let round = 0; round < 10; round++) {
    v128.store(PHILOX_KEYS + (<usize>round << 5), i32x4.splat(<i32>k0));
    v128.store(PHILOX_KEYS + (<usize>round << 5), i32x4.splat(<i32>k1), 16);
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
}

// @ts-ignore: decorator
@inline
export function philoxBlock4(first: u64, j: i32): void {
  const i1 = first + 1;
  const i2 = first + 2;
  const i3 = first + 3;
  let c0 = i32x4.splat(<i32>first);
  c0 = i32x4.replace_lane(c0, 1, <i32>i1);
  c0 = i32x4.replace_lane(c0, 2, <i32>i2);
  c0 = i32x4.replace_lane(c0, 3, <i32>i3);
  let c1 = i32x4.splat(<i32>(first >> 32));
  c1 = i32x4.replace_lane(c1, 1, <i32>(i1 >> 32));
  c1 = i32x4.replace_lane(c1, 2, <i32>(i2 >> 32));
  c1 = i32x4.replace_lane(c1, 3, <i32>(i3 >> 32));
  let c2 = i32x4.splat(j);
  let c3 = i32x4.splat(0);
  const m0 = i32x4.splat(<i32>PHILOX_M0);
  const m1 = i32x4.splat(<i32>PHILOX_M1);
  for (let round = 0; round < 10; round++) {
    const a0 = i64x2.extmul_low_i32x4_u(c0, m0);
    const b0 = i64x2.extmul_high_i32x4_u(c0, m0);
    const a1 = i64x2.extmul_low_i32x4_u(c2, m1);
    const b1 = i64x2.extmul_high_i32x4_u(c2, m1);
    const hi0 = i8x16.shuffle(a0, b0, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    const hi1 = i8x16.shuffle(a1, b1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    const lo0 = i8x16.shuffle(a0, b0, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const lo1 = i8x16.shuffle(a1, b1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const keys = PHILOX_KEYS + (<usize>round << 5);
    c0 = v128.xor(v128.xor(hi1, c1), v128.load(keys));
    c1 = lo1;
    c2 = v128.xor(v128.xor(hi0, c3), v128.load(keys, 16));
    c3 = lo0;
  }
  v128.store(PHILOX_OUT, c0);
  v128.store(PHILOX_OUT, c1, 16);
  v128.store(PHILOX_OUT, c2, 32);
  v128.store(PHILOX_OUT, c3, 48);
}

// uniform52 of lanes 0, 1 (high = 0) or 2, 3 (high = 1) of (hi, lo) as f64x2: a = hi·2^20 + ⌊lo/2^12⌋
// < 2^52, whose bits or'd into 2^52's give the double 2^52 + a exactly; minus (2^52 − ½) is a + ½
// exactly (53 bits), times 2^-52 exactly: the same value as uniform52.
// @ts-ignore: decorator
@inline
function uniform52x2(hi: v128, lo: v128, high: bool): v128 {
  const h = high ? i64x2.extend_high_i32x4_u(hi) : i64x2.extend_low_i32x4_u(hi);
  const l = high ? i64x2.extend_high_i32x4_u(lo) : i64x2.extend_low_i32x4_u(lo);
  const a = v128.or(i64x2.shl(h, 20), i64x2.shr_u(l, 12));
  const x = v128.or(a, i64x2.splat(0x4330000000000000));
  return f64x2.mul(f64x2.sub(x, f64x2.splat(4503599627370495.5)), f64x2.splat(Ox1p_52));
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * Writes the raw Philox4x32-10 block of `counter = (c0, c1, c2, c3)` under `key = (k0, k1)` as four
 * u32 at `outPtr` (for known-answer tests and for callers that need raw bits).
 */
export function rngPhilox(k0: u32, k1: u32, c0: u32, c1: u32, c2: u32, c3: u32, outPtr: usize): void {
  philoxBlock(c0, c1, c2, c3, k0, k1);
  store<u32>(outPtr, x0, 0);
  store<u32>(outPtr, x1, 4);
  store<u32>(outPtr, x2, 8);
  store<u32>(outPtr, x3, 12);
}

/**
 * Standard normals for points [start, start + n), `d` dimensions, f32 structure-of-arrays:
 * out[j·n + i] is dimension j of point start + i. See the module header for the mapping.
 * n ≤ 0 or d ≤ 0 writes nothing. `start` is an integer below 2^53 − n (checked by the host).
 */
export function rngNormalsF32(seed: u32, stream: u32, start: f64, n: i32, d: i32, outPtr: usize): void {
  if (n <= 0 || d <= 0) return;
  const first = <u64>start;
  const rowBytes = <usize>n << 2;
  const blocks = (d + 1) >> 1;
  // four points at a time, all in SIMD: Philox (philoxBlock4), the uniforms (uniform52x2),
  // Box–Muller two lanes per f64x2 (boxMuller2). A last group of fewer than four points runs the
  // same code and stores only its lanes, so a point's value never depends on the range drawn.
  philoxKeys(seed, stream);
  for (let i = 0; i < n; i += 4) {
    const lanes = min(4, n - i);
    let out = outPtr + (<usize>i << 2);
    for (let j = 0; j < blocks; j++) {
      philoxBlock4(first + <u64>i, j);
      const w0 = v128.load(PHILOX_OUT);
      const w1 = v128.load(PHILOX_OUT, 16);
      const w2 = v128.load(PHILOX_OUT, 32);
      const w3 = v128.load(PHILOX_OUT, 48);
      boxMuller2(uniform52x2(w0, w1, false), uniform52x2(w2, w3, false), 0);
      boxMuller2(uniform52x2(w0, w1, true), uniform52x2(w2, w3, true), 8);
      storeLanes(out, v128.load(BM_OUT), lanes);
      out += rowBytes;
      if (2 * j + 1 < d) {
        storeLanes(out, v128.load(BM_OUT, 16), lanes);
        out += rowBytes;
      }
    }
  }
}

// Box–Muller results of four points as f32 lanes: cos row at 0, sin row at 16.
const BM_OUT: usize = memory.data(32, 16);

// Box–Muller of two lanes (f64): ρ = sqrt(−2 ln U), (ρ·cos 2πV, ρ·sin 2πV) rounded to f32, into
// the f32 lanes at byte `at` of BM_OUT's cos and sin rows. ln by vlogF64x2; cos 2πV and sin 2πV as
// cos πt and sin πt of t = 2V (exact) by sincosPi2. Plain f64 arithmetic: the same bits in every
// build, a few f64 ulp from the exact values, far below the final f32 rounding.
// @ts-ignore: decorator
@inline
function boxMuller2(u: v128, v: v128, at: usize): void {
  const rho = f64x2.sqrt(f64x2.mul(f64x2.splat(-2.0), vlogF64x2(u)));
  sincosPi2(f64x2.add(v, v));
  const c = f32x4.demote_f64x2_zero(f64x2.mul(rho, v128.load(SINCOS_OUT)));
  const s = f32x4.demote_f64x2_zero(f64x2.mul(rho, v128.load(SINCOS_OUT, 16)));
  v128.store64_lane(BM_OUT + at, c, 0);
  v128.store64_lane(BM_OUT + at, s, 0, 16);
}

/**
 * Uniforms in the open interval (0, 1), 52 random bits each, for points [start, start + n) and `d`
 * dimensions, f64 structure-of-arrays: out[j·n + i]. Normal dimensions 2j and 2j+1 are the
 * Box–Muller transform of these uniform dimensions 2j and 2j+1 (same seed, stream and point).
 */
export function rngUniformsF64(seed: u32, stream: u32, start: f64, n: i32, d: i32, outPtr: usize): void {
  if (n <= 0 || d <= 0) return;
  const first = <u64>start;
  const rowBytes = <usize>n << 3;
  const blocks = (d + 1) >> 1;
  // four points at a time (philoxBlock4), then the rest one by one
  philoxKeys(seed, stream);
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    let out = outPtr + (<usize>i << 3);
    for (let j = 0; j < blocks; j++) {
      philoxBlock4(first + <u64>i, j);
      const w0 = v128.load(PHILOX_OUT);
      const w1 = v128.load(PHILOX_OUT, 16);
      v128.store(out, uniform52x2(w0, w1, false));
      v128.store(out, uniform52x2(w0, w1, true), 16);
      out += rowBytes;
      if (2 * j + 1 < d) {
        const w2 = v128.load(PHILOX_OUT, 32);
        const w3 = v128.load(PHILOX_OUT, 48);
        v128.store(out, uniform52x2(w2, w3, false));
        v128.store(out, uniform52x2(w2, w3, true), 16);
        out += rowBytes;
      }
    }
  }
  for (let i = n4; i < n; i++) {
    const index = first + <u64>i;
    let out = outPtr + (<usize>i << 3);
    for (let j = 0; j < blocks; j++) {
      philoxBlock(<u32>index, <u32>(index >> 32), <u32>j, 0, seed, stream);
      store<f64>(out, uniform52(x0, x1));
      out += rowBytes;
      if (2 * j + 1 < d) {
        store<f64>(out, uniform52(x2, x3));
        out += rowBytes;
      }
    }
  }
}

/**
 * Uniforms in the open interval (0, 1), 23 random bits each (the top bits of the f64 uniforms of
 * the same coordinates), f32 structure-of-arrays: out[j·n + i].
 */
export function rngUniformsF32(seed: u32, stream: u32, start: f64, n: i32, d: i32, outPtr: usize): void {
  if (n <= 0 || d <= 0) return;
  const first = <u64>start;
  const rowBytes = <usize>n << 2;
  const blocks = (d + 1) >> 1;
  for (let i = 0; i < n; i++) {
    const index = first + <u64>i;
    let out = outPtr + (<usize>i << 2);
    for (let j = 0; j < blocks; j++) {
      philoxBlock(<u32>index, <u32>(index >> 32), <u32>j, 0, seed, stream);
      store<f32>(out, uniform23(x0));
      out += rowBytes;
      if (2 * j + 1 < d) {
        store<f32>(out, uniform23(x2));
        out += rowBytes;
      }
    }
  }
}
