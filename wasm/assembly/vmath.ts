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
