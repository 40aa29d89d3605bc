// SIMD math shared by the kernels (not exported from the module: its functions take v128).

// expm1 of f32x4 by two-constant Cody–Waite range reduction and a degree-6 polynomial:
//   x = n·ln2 + r, n = round(x/ln2), |r| ≤ ln2/2, r = (x − n·ln2_hi) − n·ln2_lo
//   expm1(x) = 2ⁿ·expm1(r) + (2ⁿ − 1), with 2ⁿ − 1 exact in f32 for −24 ≤ n ≤ 24
//   (and correctly −1 once rounded below)
//   expm1(r) ≈ r + r²·(c₂ + c₃r + c₄r² + c₅r³ + c₆r⁴)
// exp(x) = 2ⁿ·expm1(r) + 2ⁿ shares the reduction and has no cancellation for x ≪ 0.
// The coefficients are a weighted minimax fit (Lawson iteration, relative error of expm1 on
// [−ln2/2, ln2/2]) rounded to f32: the polynomial alone is within 1.8e-8 relative. With f32
// rounding, the measured maximum relative error against Math.expm1 / Math.exp (f64) on a dense
// grid is 1.13e-7 for expm1 on [−17.5, 88] (8.9e-8 on x ≤ 0) and 8.5e-8 for exp on [−87, 88]
// (test/mlp.test.ts pins 2e-7 for both, about 3 ulp).
// Domain: x is clamped to [−87, 88], where 2ⁿ is a normal f32 (−126 ≤ n ≤ 127): below −87 exp
// returns exp(−87) ≈ 1.6e-38 instead of a subnormal or 0, expm1 returns −1 (as it does, rounded,
// below −17.33); above 88 both saturate near 1.65e38 instead of overflowing. NaN propagates
// (the clamps are pmax/pmin with x first, which return a NaN x). The activations only need x ≤ 0
// and call `expCoreK` with nonPositive set, which skips the upper clamp (one op of ~25) and is
// otherwise the same code; test/mlp.test.ts checks them through ELU and SiLU on dense grids.
const LOG2E: f32 = reinterpret<f32>(0x3fb8aa3b); // 1.44269502
const LN2_HI: f32 = reinterpret<f32>(0x3f317200); // 0.693145752, 8 trailing zero bits: n·LN2_HI exact
const LN2_LO: f32 = reinterpret<f32>(0x35bfbe8e); // 1.42860677e-6
const MAGIC: f32 = 12583039.0; // 0x1.8p23 + 127: round to integer, low bits hold n + 127
const C2: f32 = reinterpret<f32>(0x3effffff); // 0.49999997
const C3: f32 = reinterpret<f32>(0x3e2aaa58); // 0.16666543
const C4: f32 = reinterpret<f32>(0x3d2aab3a); // 0.041667201
const C5: f32 = reinterpret<f32>(0x3c0913db); // 0.0083665503
const C6: f32 = reinterpret<f32>(0x3ab5f603); // 0.0013882521
const X_MIN: f32 = -87.0;
const X_MAX: f32 = 88.0;

// ELU(x) = max(x, expm1(min(x, 0))) (expm1(u) ≥ u, and expm1(0) = 0), with a cheaper expm1 that is
// accurate in absolute terms, which is what a layer's sum of O(1) terms needs:
//   u = max(min(x, 0), −87), y = u·log2e, n = round(y) (MAGIC as above), f = y − n ∈ [−½, ½]
//   expm1(u) ≈ 2ⁿ·P(f) − 1, P(f) = 1 + f·(e₁ + e₂f + e₃f² + e₄f³ + e₅f⁴) ≈ 2^f
// One rounding of y (no Cody–Waite split): the exponent is off by ≤ |y|·2⁻²⁴, a relative error of
// 2ⁿ·P of ≤ 87·2⁻²⁴·… ≈ 4e-6 at u = −87, where 2ⁿ·P ≈ 1.6e-38, and ≤ 6e-8·|u|·e^u < 3e-8 absolute
// everywhere. P's coefficients: a minimax fit of the relative error of 2^f on [−½, ½] (Lawson
// iteration), rounded to f32; the polynomial alone is within 1.03e-7 relative, so 2ⁿ·P − 1 is within
// 1.03e-7 + its roundings absolute. Measured against Math.expm1 (f64) on a dense grid of [−90, 5]:
// max |error| 1.41e-7 plain, 1.33e-7 fused (test/mlp.test.ts pins 2.5e-7 absolute). Near 0 the
// relative error is unbounded (2ⁿ·P − 1 cancels), which a sum of O(1) terms does not see.
const E1: f32 = reinterpret<f32>(0x3f317216); // 0.693147063
const E2: f32 = reinterpret<f32>(0x3e75fcde); // 0.240222424
const E3: f32 = reinterpret<f32>(0x3d635a13); // 0.0555058233
const E4: f32 = reinterpret<f32>(0x3c1e7548); // 0.00967151672
const E5: f32 = reinterpret<f32>(0x3aae7101); // 0.00133088243

// The constants live in a table in linear memory, read with v128.load32_splat (`k`). Hot loops load
// them once, before the loop, and pass them to `expCoreK`; V8 keeps them in registers or spills
// them (one load per use). Written as v128.const, V8 (Node.js 20) rebuilds every one from two
// 64-bit immediates at each iteration (three instructions each, a dozen per exp); loaded from the
// table inside the loop, they pin each exp chain to memory order and V8 no longer interleaves
// independent chains (measured 8 % slower than v128.const; hoisted, 11–16 % faster).
export const K_LOG2E = 0;
export const K_LN2_HI = 1;
export const K_LN2_LO = 2;
export const K_MAGIC = 3;
export const K_C2 = 4;
export const K_C3 = 5;
export const K_C4 = 6;
export const K_C5 = 7;
export const K_C6 = 8;
export const K_X_MIN = 9;
export const K_X_MAX = 10;
export const K_ONE = 11;
export const K_MINUS_ONE = 12;
export const K_E1 = 13;
export const K_E2 = 14;
export const K_E3 = 15;
export const K_E4 = 16;
export const K_E5 = 17;
const EXP_TABLE = memory.data<f32>(
  [LOG2E, LN2_HI, LN2_LO, MAGIC, C2, C3, C4, C5, C6, X_MIN, X_MAX, 1.0, -1.0, E1, E2, E3, E4, E5], 16,
);

/** Constant `i` of the exp table in all four lanes. */
@inline export function k(i: i32): v128 {
  return v128.load32_splat(EXP_TABLE + (<usize>i << 2));
}

/** a·b + c: fused in the relaxed build, mul then add in the baseline. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/**
 * expm1 (minus1) or exp of four lanes: the shared range reduction and polynomial, its constants
 * passed in (`k(K_…)` of each, loaded before the loop). `nonPositive` promises x ≤ 0 (or NaN),
 * which saves the upper clamp (xMax is then unused).
 */
@inline export function expCoreK(
  x0: v128, minus1: bool, nonPositive: bool,
  log2e: v128, ln2Hi: v128, ln2Lo: v128, magic: v128,
  c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, xMin: v128, xMax: v128, one: v128,
): v128 {
  // pmax(x, c) = x < c ? c : x and pmin(x, c) = c < x ? c : x keep a NaN x (the comparison is
  // false) and are one instruction on x86, where min/max (NaN- and ±0-exact) take seven or eight
  let x = f32x4.pmax(x0, xMin);
  if (!nonPositive) x = f32x4.pmin(x, xMax);
  // v = x·log2e + MAGIC rounds n into the low mantissa bits; shifting them into the exponent
  // field gives 2ⁿ (the MAGIC bits shift out of the word)
  const v = madd(x, log2e, magic);
  const s = i32x4.shl(v, 23);
  const n = f32x4.sub(v, magic);
  // r = x − n·ln2, two steps: n·LN2_HI is exact, the subtraction is exact by Sterbenz
  let r = f32x4.sub(x, f32x4.mul(n, ln2Hi));
  r = f32x4.sub(r, f32x4.mul(n, ln2Lo));
  let p = madd(c6, r, c5);
  p = madd(p, r, c4);
  p = madd(p, r, c3);
  p = madd(p, r, c2);
  p = f32x4.mul(p, f32x4.mul(r, r));
  p = f32x4.add(p, r); // expm1(r)
  // 2ⁿ·expm1(r) + (2ⁿ − 1), or 2ⁿ·expm1(r) + 2ⁿ
  return madd(s, p, minus1 ? f32x4.sub(s, one) : s);
}

/** `expCoreK` with its constants read from the table at the call. */
@inline function expCore(x0: v128, minus1: bool, nonPositive: bool): v128 {
  return expCoreK(x0, minus1, nonPositive, k(K_LOG2E), k(K_LN2_HI), k(K_LN2_LO), k(K_MAGIC),
    k(K_C2), k(K_C3), k(K_C4), k(K_C5), k(K_C6), k(K_X_MIN), k(K_X_MAX), k(K_ONE));
}

/** expm1 of four lanes (see the error bound above). */
@inline export function expm1v(x: v128): v128 {
  return expCore(x, true, false);
}

/** exp of four lanes (see the error bound above). */
@inline export function expv(x: v128): v128 {
  return expCore(x, false, false);
}

/**
 * ELU (α = 1) of four lanes, max(z, expm1(min(z, 0))), with ELU's cheaper expm1 (see above; its
 * constants passed in, `k(K_…)` of each loaded before the loop). z > 0 passes exactly, a NaN z
 * stays NaN (pmin/pmax with z first).
 */
@inline export function eluK(
  z: v128, log2e: v128, magic: v128, xMin: v128, one: v128, minusOne: v128,
  e1: v128, e2: v128, e3: v128, e4: v128, e5: v128,
): v128 {
  const u = f32x4.pmax(f32x4.pmin(z, f32x4.splat(0.0)), xMin);
  const y = f32x4.mul(u, log2e);
  const v = f32x4.add(y, magic);
  const s = i32x4.shl(v, 23); // 2ⁿ
  const f = f32x4.sub(y, f32x4.sub(v, magic)); // exact: n and y are within ½ of each other
  let q = madd(e5, f, e4);
  q = madd(q, f, e3);
  q = madd(q, f, e2);
  q = madd(q, f, e1);
  const p = madd(q, f, one); // 2^f
  return f32x4.pmax(z, madd(s, p, minusOne));
}

/** `eluK` with its constants read from the table at the call. */
@inline export function eluv(z: v128): v128 {
  return eluK(z, k(K_LOG2E), k(K_MAGIC), k(K_X_MIN), k(K_ONE), k(K_MINUS_ONE), k(K_E1), k(K_E2), k(K_E3), k(K_E4), k(K_E5));
}

/**
 * e^{min(z, 0)} of four lanes by ELU's reduction and polynomial (see above): 2ⁿ·P(f) for
 * u = max(min(z, 0), −87), exactly 1 for z ≥ 0 (n = 0, f = 0, P(0) = 1). This is ELU's derivative
 * (1 for z > 0, e^z for z ≤ 0), and ELU(z) = pmax(z, e − 1) is bit-identical to `eluK` (2ⁿ·P is
 * exact, so e − 1 rounds as eluK's fused 2ⁿ·P − 1 does). Relative error against e^u: P's 1.03e-7
 * plus its roundings and ≤ |y|·2⁻²⁴·ln 2 from rounding y = u·log2e (≤ 3.6e-6 at u = −87, where e^u ≈
 * 1.6e-38; ≤ 6e-8·|u| in general). Constants passed in, `k(K_…)` of each loaded before the loop.
 * A NaN z gives NaN.
 */
@inline export function expEluK(
  z: v128, log2e: v128, magic: v128, xMin: v128, one: v128,
  e1: v128, e2: v128, e3: v128, e4: v128, e5: v128,
): v128 {
  const u = f32x4.pmax(f32x4.pmin(z, f32x4.splat(0.0)), xMin);
  const y = f32x4.mul(u, log2e);
  const v = f32x4.add(y, magic);
  const s = i32x4.shl(v, 23); // 2ⁿ
  const f = f32x4.sub(y, f32x4.sub(v, magic));
  let q = madd(e5, f, e4);
  q = madd(q, f, e3);
  q = madd(q, f, e2);
  q = madd(q, f, e1);
  return f32x4.mul(s, madd(q, f, one));
}

// cos πt and sin πt of two f64 lanes. Reduction, exact in f64 for |t| < 2^50: q = round(2t),
// r = t − q/2 ∈ [−¼, ¼], φ = π·r ∈ [−π/4, π/4]; Taylor polynomials of sin φ (degree 15, remainder
// ≤ (π/4)¹⁷/17! ≈ 4.6e-17) and cos φ (degree 16, ≤ (π/4)¹⁸/18! ≈ 2.0e-18); then the quadrant
// m = q mod 4 rotates (cos φ, sin φ) into (cos πt, sin πt): m = 0 (c, s), 1 (−s, c), 2 (−c, −s),
// 3 (s, −c). Errors are a few f64 ulp, far below the f32 the features are stored in. Results go to
// SINCOS_OUT: cos lanes at 0, sin lanes at 16.
export const SINCOS_OUT: usize = memory.data(32, 16);

// @ts-ignore: decorator
@inline export function sincosPi2(t: v128): void {
  const q = f64x2.nearest(f64x2.add(t, t));
  const r = f64x2.sub(t, f64x2.mul(q, f64x2.splat(0.5)));
  const phi = f64x2.mul(r, f64x2.splat(Math.PI));
  const p2 = f64x2.mul(phi, phi);
  // sin φ = φ·(1 − φ²/3! + φ⁴/5! − … − φ¹⁴/15!)
  let sp = f64x2.splat(-1.0 / 1307674368000.0);
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(1.0 / 6227020800.0));
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(-1.0 / 39916800.0));
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(1.0 / 362880.0));
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(-1.0 / 5040.0));
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(1.0 / 120.0));
  sp = f64x2.add(f64x2.mul(sp, p2), f64x2.splat(-1.0 / 6.0));
  const sn = f64x2.add(phi, f64x2.mul(f64x2.mul(sp, p2), phi));
  // cos φ = 1 − φ²/2! + φ⁴/4! − … + φ¹⁶/16!
  let cp = f64x2.splat(1.0 / 20922789888000.0);
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(-1.0 / 87178291200.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(1.0 / 479001600.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(-1.0 / 3628800.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(1.0 / 40320.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(-1.0 / 720.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(1.0 / 24.0));
  cp = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(-0.5));
  const cs = f64x2.add(f64x2.mul(cp, p2), f64x2.splat(1.0));
  // m = q mod 4 ∈ {0, 1, 2, 3} (exact)
  const m = f64x2.sub(q, f64x2.mul(f64x2.floor(f64x2.mul(q, f64x2.splat(0.25))), f64x2.splat(4.0)));
  const odd = v128.or(f64x2.eq(m, f64x2.splat(1.0)), f64x2.eq(m, f64x2.splat(3.0)));
  const c0 = v128.bitselect(sn, cs, odd);
  const s0 = v128.bitselect(cs, sn, odd);
  const cneg = v128.or(f64x2.eq(m, f64x2.splat(1.0)), f64x2.eq(m, f64x2.splat(2.0)));
  const sneg = f64x2.ge(m, f64x2.splat(2.0));
  v128.store(SINCOS_OUT, v128.bitselect(f64x2.neg(c0), c0, cneg));
  v128.store(SINCOS_OUT, v128.bitselect(f64x2.neg(s0), s0, sneg), 16);
}

// ln x of two f64 lanes, for positive normal x (the Box–Muller uniforms, ≥ 2^-53). x = m·2^e with
// m ∈ [√½, √2) (the mantissa, halved with e + 1 above √2), s = (m − 1)/(m + 1), |s| ≤ 0.1716;
// ln m = 2·atanh s = 2s·Σ_{k≥0} s^{2k}/(2k + 1), truncated after k = 11 (remainder ≤ s²⁴/25 ·
// 1/(1 − s²) ≈ 7e-19 relative); ln x = e·ln2_hi + (e·ln2_lo + ln m) with ln2_hi exact for
// |e| < 2^11. Plain f64 arithmetic (no fused operations), so every build gives the same bits;
// errors are a few f64 ulp.
const LN2_HI_D: f64 = reinterpret<f64>(0x3fe62e42fee00000); // ln 2, 32 trailing zero bits
const LN2_LO_D: f64 = reinterpret<f64>(0x3dea39ef35793c76); // ln 2 − LN2_HI_D

// @ts-ignore: decorator
@inline export function vlogF64x2(x: v128): v128 {
  const bits = x;
  // exponent e (i64 lanes) and mantissa m ∈ [1, 2)
  const e = i64x2.sub(i64x2.shr_u(bits, 52), i64x2.splat(1023));
  let m = v128.or(v128.and(bits, i64x2.splat(0x000fffffffffffff)), i64x2.splat(0x3ff0000000000000));
  const big = f64x2.gt(m, f64x2.splat(1.4142135623730951));
  m = v128.bitselect(f64x2.mul(m, f64x2.splat(0.5)), m, big);
  const eAdj = i64x2.sub(e, big); // big lanes are all ones (−1): e + 1
  const ef = f64x2.convert_low_i32x4_s(i32x4.shuffle(eAdj, eAdj, 0, 2, 0, 2));
  const s = f64x2.div(f64x2.sub(m, f64x2.splat(1.0)), f64x2.add(m, f64x2.splat(1.0)));
  const s2 = f64x2.mul(s, s);
  let p = f64x2.splat(1.0 / 23.0);
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 21.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 19.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 17.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 15.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 13.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 11.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 9.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 7.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 5.0));
  p = f64x2.add(f64x2.mul(p, s2), f64x2.splat(1.0 / 3.0));
  // ln m = 2s + 2s·s²·p (the leading term kept apart: no rounding of 1 + s²p)
  const twoS = f64x2.add(s, s);
  const lnm = f64x2.add(twoS, f64x2.mul(f64x2.mul(twoS, s2), p));
  return f64x2.add(f64x2.mul(ef, f64x2.splat(LN2_HI_D)), f64x2.add(f64x2.mul(ef, f64x2.splat(LN2_LO_D)), lnm));
}

/** Stores the first `lanes` (1 … 4) f32 lanes of `v` at `at`: all four in one store, fewer one by one. */
// @ts-ignore: decorator
@inline export function storeLanes(at: usize, v: v128, lanes: i32): void {
  if (lanes >= 4) {
    v128.store(at, v);
    return;
  }
  store<f32>(at, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(at, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(at, f32x4.extract_lane(v, 2), 8);
}
