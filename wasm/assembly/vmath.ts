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
// (the clamps are pmax/pmin with x first, which return a NaN x). The activations only need x ≤ 0 and call the *NonPositive forms,
// which skip the upper clamp (one op of ~25) and are otherwise the same code; test/mlp.test.ts
// checks them through ELU and SiLU on dense grids.
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

/** a·b + c: fused in the relaxed build, mul then add in the baseline. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/**
 * expm1 (minus1) or exp of four lanes: the shared range reduction and polynomial. `nonPositive`
 * promises x ≤ 0 (or NaN), which saves the upper clamp.
 */
@inline function expCore(x0: v128, minus1: bool, nonPositive: bool): v128 {
  // pmax(x, c) = x < c ? c : x and pmin(x, c) = c < x ? c : x keep a NaN x (the comparison is
  // false) and are one instruction on x86, where min/max (NaN- and ±0-exact) take seven or eight
  let x = f32x4.pmax(x0, f32x4.splat(X_MIN));
  if (!nonPositive) x = f32x4.pmin(x, f32x4.splat(X_MAX));
  // v = x·log2e + MAGIC rounds n into the low mantissa bits; shifting them into the exponent
  // field gives 2ⁿ (the MAGIC bits shift out of the word)
  const v = madd(x, f32x4.splat(LOG2E), f32x4.splat(MAGIC));
  const s = i32x4.shl(v, 23);
  const n = f32x4.sub(v, f32x4.splat(MAGIC));
  // r = x − n·ln2, two steps: n·LN2_HI is exact, the subtraction is exact by Sterbenz
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = madd(f32x4.splat(C6), r, f32x4.splat(C5));
  p = madd(p, r, f32x4.splat(C4));
  p = madd(p, r, f32x4.splat(C3));
  p = madd(p, r, f32x4.splat(C2));
  p = f32x4.mul(p, f32x4.mul(r, r));
  p = f32x4.add(p, r); // expm1(r)
  // 2ⁿ·expm1(r) + (2ⁿ − 1), or 2ⁿ·expm1(r) + 2ⁿ
  return madd(s, p, minus1 ? f32x4.sub(s, f32x4.splat(1.0)) : s);
}

/** expm1 of four lanes (see the error bound above). */
@inline export function expm1v(x: v128): v128 {
  return expCore(x, true, false);
}

/** exp of four lanes (see the error bound above). */
@inline export function expv(x: v128): v128 {
  return expCore(x, false, false);
}

/** expm1 of four lanes that are ≤ 0 (or NaN): `expm1v` without the upper clamp. */
@inline export function expm1NonPositive(x: v128): v128 {
  return expCore(x, true, true);
}

/** exp of four lanes that are ≤ 0 (or NaN): `expv` without the upper clamp. */
@inline export function expNonPositive(x: v128): v128 {
  return expCore(x, false, true);
}

