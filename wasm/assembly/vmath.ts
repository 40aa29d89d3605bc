// SIMD math shared by the kernels (not exported from the module: its functions take v128).

// expm1 of f32x4 by two-constant Cody–Waite range reduction and a degree-6 polynomial:
//   x = n·ln2 + r, n = round(x/ln2), |r| ≤ ln2/2, r = (x − n·ln2_hi) − n·ln2_lo
//   expm1(x) = 2ⁿ·expm1(r) + (2ⁿ − 1), with 2ⁿ − 1 exact in f32 for −25 ≤ n ≤ 24
//   expm1(r) ≈ r + r²·(c₂ + c₃r + c₄r² + c₅r³ + c₆r⁴)
// The coefficients are a weighted minimax fit (Lawson iteration, relative error of expm1 on
// [−ln2/2, ln2/2]) rounded to f32: the polynomial alone is within 1.8e-8 relative. With f32
// rounding, the measured maximum relative error against Math.expm1 (f64) on a dense grid of
// [−17.5, 0] is below 3e-7 (test/mlp.test.ts pins 4e-7); exp(x) = 1 + expm1(x) then has absolute
// error below 1.2e-7 on x ≤ 0.
// Domain: x is clamped to [−17.5, 88]: below −17.33 expm1 rounds to −1 in f32 anyway; above 88
// the result saturates at expm1(88) ≈ 1.65e38 (the activations only call it with x ≤ 0).
// NaN propagates (f32x4.min/max return NaN).
const LOG2E: f32 = reinterpret<f32>(0x3fb8aa3b); // 1.44269502
const LN2_HI: f32 = reinterpret<f32>(0x3f317200); // 0.693145752, 8 trailing zero bits: n·LN2_HI exact
const LN2_LO: f32 = reinterpret<f32>(0x35bfbe8e); // 1.42860677e-6
const MAGIC: f32 = 12583039.0; // 0x1.8p23 + 127: round to integer, low bits hold n + 127
const C2: f32 = reinterpret<f32>(0x3effffff); // 0.49999997
const C3: f32 = reinterpret<f32>(0x3e2aaa58); // 0.16666543
const C4: f32 = reinterpret<f32>(0x3d2aab3a); // 0.041667201
const C5: f32 = reinterpret<f32>(0x3c0913db); // 0.0083665503
const C6: f32 = reinterpret<f32>(0x3ab5f603); // 0.0013882521
const X_MIN: f32 = -17.5;
const X_MAX: f32 = 88.0;

/** a·b + c: fused in the relaxed build, mul then add in the baseline. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** expm1 of four lanes (see the error bound above). */
@inline export function expm1v(x0: v128): v128 {
  const x = f32x4.min(f32x4.max(x0, f32x4.splat(X_MIN)), f32x4.splat(X_MAX));
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
  // 2ⁿ·expm1(r) + (2ⁿ − 1)
  return madd(s, p, f32x4.sub(s, f32x4.splat(1.0)));
}

