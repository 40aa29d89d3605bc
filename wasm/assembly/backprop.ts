// Reverse-mode building blocks for the vector-field MLP family (shared/model/spec.ts): a forward
// pass over one block of points that caches what the backward pass needs, and the backward pass
// given dL/d(output). Internal to the core (train.ts exports the kernels): later kernels (VIB,
// log-likelihood) import these functions to build their own fused passes.
//
// Model descriptor (i32 words at `desc`):
//   [0] d, the data dimension      [1] K, the number of time frequencies
//   [2] activation: 0 ELU, 1 SiLU, 2 tanh, 3 ReLU (the order of ACTIVATIONS in spec.ts)
//   [3] L, the number of linear layers (hidden layers + 1)
//   [4 … 4+L] the L+1 layer widths, input (1 + 2K + d) to output (d)
// Parameters are f32 in the canonical layout: per layer W row-major [out, in], then b [out].
//
// Block layout. A block holds up to BLOCK points, processed in lanes (4 points per v128) and in
// tiles of 16 points; the tail of a batch is padded to a multiple of 16 points with zero inputs
// and a zero upstream gradient, so padded lanes contribute exactly 0 to every gradient. Every
// activation array is [neuron][BLOCK] f32 (row stride ROW bytes). A block's cache is
//   H_0 (the input features), H_1 … H_L (layer outputs; H_L is the field v), then
//   G_1 … G_{L-1} (the activation's derivative f'(z) at every hidden neuron).
// Storing f'(z) rather than z keeps one backward path for every activation.
//
// Gradients are accumulated in lane form: 4 f32 partial sums per parameter (16 bytes), lane k
// holding the points ≡ k (mod 4) of every block, in block order. The final sum over lanes is
// (s0 + s1) + (s2 + s3) (gradReduce). The order is fixed, so a gradient is bit-for-bit
// reproducible. Splitting a batch into chunks (one accumulator each, summed in chunk order)
// associates the sums differently, so a multi-threaded caller must fix the chunking, not the
// thread count, to keep the same bits.

import { denseBackwardRows, denseBiasGradRows, denseForwardRows, denseWeightGradRows } from "./dense";
import { K_E1, K_E2, K_E3, K_E4, K_E5, K_LOG2E, K_MAGIC, K_ONE, K_X_MIN, SINCOS_OUT, expEluK, k, madd, sincosPi2 } from "./vmath";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Points per block. A multiple of 16 (the tile width). */
export const BLOCK: i32 = 64;
/** Bytes per activation row of a block. */
export const ROW: usize = <usize>BLOCK << 2;

export const ACT_ELU: i32 = 0;
export const ACT_SILU: i32 = 1;
export const ACT_TANH: i32 = 2;
export const ACT_RELU: i32 = 3;

// @ts-ignore: decorator
@inline export function descDim(desc: usize): i32 {
  return load<i32>(desc);
}

// @ts-ignore: decorator
@inline export function descFreq(desc: usize): i32 {
  return load<i32>(desc, 4);
}

// @ts-ignore: decorator
@inline export function descAct(desc: usize): i32 {
  return load<i32>(desc, 8);
}

// @ts-ignore: decorator
@inline export function descLayers(desc: usize): i32 {
  return load<i32>(desc, 12);
}

/** Width of layer boundary `l` (0 = input features, L = output). */
// @ts-ignore: decorator
@inline export function descWidth(desc: usize, l: i32): i32 {
  return load<i32>(desc + 16 + (<usize>l << 2));
}

/** Number of parameters: Σ (in + 1)·out. */
export function paramCount(desc: usize): i32 {
  const L = descLayers(desc);
  let n = 0;
  for (let l = 0; l < L; l++) n += (descWidth(desc, l) + 1) * descWidth(desc, l + 1);
  return n;
}

/** Widest layer boundary. */
export function maxWidth(desc: usize): i32 {
  const L = descLayers(desc);
  let w = 0;
  for (let l = 0; l <= L; l++) w = max(w, descWidth(desc, l));
  return w;
}

/** Bytes of one block's cache: H_0 … H_L and G_1 … G_{L-1}. */
export function blockCacheBytes(desc: usize): usize {
  const L = descLayers(desc);
  let rows = 0;
  for (let l = 0; l <= L; l++) rows += descWidth(desc, l);
  for (let l = 1; l < L; l++) rows += descWidth(desc, l);
  return <usize>rows * ROW;
}

/** Offset of H_l inside a block cache. */
export function cacheH(desc: usize, cache: usize, l: i32): usize {
  let rows = 0;
  for (let k = 0; k < l; k++) rows += descWidth(desc, k);
  return cache + <usize>rows * ROW;
}

/** Offset of G_l (1 ≤ l < L) inside a block cache. */
export function cacheG(desc: usize, cache: usize, l: i32): usize {
  const L = descLayers(desc);
  let rows = 0;
  for (let k = 0; k <= L; k++) rows += descWidth(desc, k);
  for (let k = 1; k < l; k++) rows += descWidth(desc, k);
  return cache + <usize>rows * ROW;
}

/** Bytes of the backward pass's scratch: two [maxWidth][BLOCK] ping-pong buffers. */
export function backwardScratchBytes(desc: usize): usize {
  return (<usize>maxWidth(desc) * ROW) << 1;
}

/** Points of a block of `nb` points that are processed: nb rounded up to the tile width 16. */
// @ts-ignore: decorator
@inline export function paddedPoints(nb: i32): i32 {
  return (nb + 15) & ~15;
}

// -------------------------------------------------------------------------------------
// vector math
// -------------------------------------------------------------------------------------


const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693145751953125; // 0x3f317200: 11 significant bits, so n·LN2_HI is exact for |n| ≤ 2^12
const LN2_LO: f32 = 1.428606765330187e-6; // ln 2 − LN2_HI
// 1.5·2^23 + 127: adding it to |y| < 2^21 rounds y to the nearest integer n (ties to even) and
// leaves the bits 0x4b400000 + 127 + n, so that shifting those bits left by 23 gives 2^n
const MAGIC_BIAS: f32 = 12583039.0;

/**
 * expm1(z) per lane, for z clamped to [−88, 88] (NaN propagates).
 *
 * Method: n = round(z / ln 2) by the magic-bias addition, which also yields 2^n from its bits;
 * r = z − n·ln 2 with Cody–Waite two-constant reduction, so |r| ≤ ln 2 / 2 (+ 1 ulp); expm1(r)
 * by its Taylor polynomial of degree 7, whose remainder is below |r|⁸/8! · e^|r| ≤ 7.3e-9
 * absolute and 2.1e-8 relative to |expm1(r)|; then expm1(z) = 2^n · expm1(r) + (2^n − 1), exact
 * in the n = 0 case. n = −127 gives the bit pattern 0, i.e. 2^n = 0 and expm1(z) = −1, the
 * correctly rounded f32 result there. The error is dominated by f32 rounding in the Horner steps
 * (a few ulp). The clamp uses pmin/pmax (one instruction each; a NaN in z passes through).
 */
// @ts-ignore: decorator
@inline export function vexpm1(z: v128): v128 {
  const zc = f32x4.pmin(f32x4.pmax(z, f32x4.splat(-88.0)), f32x4.splat(88.0));
  const vn = madd(zc, f32x4.splat(LOG2E), f32x4.splat(MAGIC_BIAS));
  const s = i32x4.shl(vn, 23);
  const n = f32x4.sub(vn, f32x4.splat(MAGIC_BIAS));
  let r = f32x4.sub(zc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(<f32>(1.0 / 5040.0));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 720.0)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 120.0)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 24.0)));
  p = madd(p, r, f32x4.splat(<f32>(1.0 / 6.0)));
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(f32x4.mul(p, r), r, r); // r + r²·(1/2 + r/6 + …)
  return madd(s, p, f32x4.sub(s, f32x4.splat(1.0)));
}

/** SiLU of the vector at `h` in place, f' to `g` (see activateRows). */
// @ts-ignore: decorator
@inline function siluAt(h: usize, g: usize): void {
  const one = f32x4.splat(1.0);
  const z = v128.load(h);
  const e = f32x4.add(vexpm1(f32x4.neg(z)), one);
  const s = f32x4.div(one, f32x4.add(one, e));
  v128.store(h, f32x4.mul(z, s));
  v128.store(g, f32x4.mul(s, madd(z, f32x4.sub(one, s), one)));
}

/** tanh of the vector at `h` in place, f' to `g` (see activateRows). */
// @ts-ignore: decorator
@inline function tanhAt(h: usize, g: usize): void {
  const z = v128.load(h);
  const e = vexpm1(f32x4.mul(f32x4.abs(z), f32x4.splat(-2.0)));
  const th = f32x4.div(f32x4.neg(e), f32x4.add(e, f32x4.splat(2.0)));
  const f = v128.or(th, v128.and(z, i32x4.splat(0x80000000)));
  v128.store(h, f);
  v128.store(g, f32x4.sub(f32x4.splat(1.0), f32x4.mul(f, f)));
}

/** ELU of `rows` rows in place and f' to `g` (see activateRows). */
function eluRows(h: usize, g: usize, rows: i32, np: i32): void {
  // the exp constants from vmath's table, loaded once (v128.const costs V8 three instructions per
  // use inside a loop)
  const log2e = k(K_LOG2E), magic = k(K_MAGIC), xMin = k(K_X_MIN), one = k(K_ONE);
  const e1 = k(K_E1), e2 = k(K_E2), e3 = k(K_E3), e4 = k(K_E4), e5 = k(K_E5);
  const len = <usize>np << 2;
  const gOff = g - h;
  for (let row = h, end = h + <usize>rows * ROW; row < end; row += ROW) {
    // four independent vectors per iteration: the exp is a dependent chain, interleaving four of
    // them hides its latency
    for (let q = row, e = row + len; q < e; q += 64) {
      const z0 = v128.load(q);
      const z1 = v128.load(q, 16);
      const z2 = v128.load(q, 32);
      const z3 = v128.load(q, 48);
      // f' = e^{min(z, 0)}, f = max(z, f' − 1)
      const x0 = expEluK(z0, log2e, magic, xMin, one, e1, e2, e3, e4, e5);
      const x1 = expEluK(z1, log2e, magic, xMin, one, e1, e2, e3, e4, e5);
      const x2 = expEluK(z2, log2e, magic, xMin, one, e1, e2, e3, e4, e5);
      const x3 = expEluK(z3, log2e, magic, xMin, one, e1, e2, e3, e4, e5);
      v128.store(q, f32x4.pmax(z0, f32x4.sub(x0, one)));
      v128.store(q, f32x4.pmax(z1, f32x4.sub(x1, one)), 16);
      v128.store(q, f32x4.pmax(z2, f32x4.sub(x2, one)), 32);
      v128.store(q, f32x4.pmax(z3, f32x4.sub(x3, one)), 48);
      const gq = q + gOff;
      v128.store(gq, x0);
      v128.store(gq, x1, 16);
      v128.store(gq, x2, 32);
      v128.store(gq, x3, 48);
    }
  }
}

/** SiLU of `rows` rows in place and f' to `g` (see activateRows). */
function siluRows(h: usize, g: usize, rows: i32, np: i32): void {
  const end = <usize>np << 2;
  for (let o = 0; o < rows; o++) {
    const hr = h + <usize>o * ROW;
    const gr = g + <usize>o * ROW;
    for (let k: usize = 0; k < end; k += 64) {
      siluAt(hr + k, gr + k);
      siluAt(hr + k + 16, gr + k + 16);
      siluAt(hr + k + 32, gr + k + 32);
      siluAt(hr + k + 48, gr + k + 48);
    }
  }
}

/** tanh of `rows` rows in place and f' to `g` (see activateRows). */
function tanhRows(h: usize, g: usize, rows: i32, np: i32): void {
  const end = <usize>np << 2;
  for (let o = 0; o < rows; o++) {
    const hr = h + <usize>o * ROW;
    const gr = g + <usize>o * ROW;
    for (let k: usize = 0; k < end; k += 64) {
      tanhAt(hr + k, gr + k);
      tanhAt(hr + k + 16, gr + k + 16);
      tanhAt(hr + k + 32, gr + k + 32);
      tanhAt(hr + k + 48, gr + k + 48);
    }
  }
}

/** ReLU of `rows` rows in place and f' to `g` (see activateRows). */
function reluRows(h: usize, g: usize, rows: i32, np: i32): void {
  const one = f32x4.splat(1.0);
  const zero = f32x4.splat(0.0);
  const end = <usize>np << 2;
  for (let o = 0; o < rows; o++) {
    const hr = h + <usize>o * ROW;
    const gr = g + <usize>o * ROW;
    for (let k: usize = 0; k < end; k += 16) {
      const z = v128.load(hr + k);
      v128.store(hr + k, f32x4.pmax(z, zero)); // pmax(z, 0) = z < 0 ? 0 : z keeps a NaN
      v128.store(gr + k, v128.and(one, f32x4.gt(z, zero)));
    }
  }
}

/**
 * Applies the activation in place to `rows` rows of `np` points of a block (`h` holds z on
 * entry, f(z) on exit) and writes f'(z) to `g`.
 *   ELU:  e = e^{min(z, 0)} (vmath.ts expEluK: ELU's own reduction and degree-5 polynomial),
 *         f = max(z, e − 1) (bit-identical to the generation kernel's ELU), f' = e (1 for z ≥ 0)
 *   SiLU: f = z·s with s = 1/(1 + e^−z), f' = s·(1 + z·(1 − s))
 *   tanh: f = sign(z)·(−e/(e + 2)) with e = expm1(−2|z|) (no cancellation near 0), f' = 1 − f²
 *   ReLU: f = max(z, 0),                f' = z > 0 ? 1 : 0
 * One loop function per activation (V8 compiles a function with one hot loop best).
 */
export function activateRows(act: i32, h: usize, g: usize, rows: i32, np: i32): void {
  if (act == ACT_ELU) eluRows(h, g, rows, np);
  else if (act == ACT_SILU) siluRows(h, g, rows, np);
  else if (act == ACT_TANH) tanhRows(h, g, rows, np);
  else reluRows(h, g, rows, np);
}

// -------------------------------------------------------------------------------------
// forward
// -------------------------------------------------------------------------------------

/** z[o][p] = b[o] + Σ_i W[o][i]·x[i][p] for one block, `np` points (a multiple of 16); dense.ts. */
export function denseForward(W: usize, b: usize, x: usize, z: usize, nIn: i32, nOut: i32, np: i32): void {
  denseForwardRows(W, b, x, ROW, z, ROW, nIn, nOut, np, np);
}

/**
 * Writes the input features of `nb` points into H_0 of a block: t, then cos kπt, sin kπt for
 * k = 1…K, then x_1 … x_d. Times and points are read with stride: t[p], x[j·stride + p].
 * Padded points (nb ≤ p < np) get zero features. cos πt and sin πt come from sincosPi2 (f64, two
 * points at a time), cos kπt and sin kπt from those by the angle-addition recurrence
 * cos(k+1)a = cos ka·cos a − sin ka·sin a, sin(k+1)a = sin ka·cos a + cos ka·sin a (f64), whose
 * error grows like k·2^−53: far below f32 resolution.
 */
export function writeFeatures(desc: usize, h0: usize, t: usize, x: usize, stride: i32, nb: i32, np: i32): void {
  const d = descDim(desc);
  const K = descFreq(desc);
  for (let p = 0; p < nb; p += 2) {
    const two = p + 1 < nb;
    const ta = load<f32>(t + (<usize>p << 2));
    const tb = two ? load<f32>(t + (<usize>p << 2), 4) : <f32>0;
    const off = <usize>p << 2;
    store<f32>(h0 + off, ta);
    if (two) store<f32>(h0 + off, tb, 4);
    if (K > 0) {
      sincosPi2(f64x2.replace_lane(f64x2.splat(<f64>ta), 1, <f64>tb));
      const c1 = v128.load(SINCOS_OUT);
      const s1 = v128.load(SINCOS_OUT, 16);
      let c = c1;
      let s = s1;
      for (let k = 0; k < K; k++) {
        const ck = h0 + <usize>(1 + 2 * k) * ROW + off;
        const sk = h0 + <usize>(2 + 2 * k) * ROW + off;
        store<f32>(ck, <f32>f64x2.extract_lane(c, 0));
        store<f32>(sk, <f32>f64x2.extract_lane(s, 0));
        if (two) {
          store<f32>(ck, <f32>f64x2.extract_lane(c, 1), 4);
          store<f32>(sk, <f32>f64x2.extract_lane(s, 1), 4);
        }
        const cn = f64x2.sub(f64x2.mul(c, c1), f64x2.mul(s, s1));
        s = f64x2.add(f64x2.mul(s, c1), f64x2.mul(c, s1));
        c = cn;
      }
    }
  }
  const base = 1 + 2 * K;
  for (let j = 0; j < d; j++) {
    memory.copy(h0 + <usize>(base + j) * ROW, x + ((<usize>j * <usize>stride) << 2), <usize>nb << 2);
  }
  if (np > nb) {
    const w = base + d;
    const pad = <usize>(np - nb) << 2;
    for (let r = 0; r < w; r++) memory.fill(h0 + <usize>r * ROW + (<usize>nb << 2), 0, pad);
  }
}

/**
 * Forward pass of one block whose features are already in H_0 of `cache`: fills H_1 … H_L and
 * G_1 … G_{L−1}. The field v is H_L.
 */
export function forwardBlock(params: usize, desc: usize, cache: usize, np: i32): void {
  const L = descLayers(desc);
  const act = descAct(desc);
  let wp = params;
  let hin = cache;
  let gp = cacheG(desc, cache, 1);
  for (let l = 0; l < L; l++) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    const bp = wp + ((<usize>nIn * <usize>nOut) << 2);
    const hout = hin + <usize>nIn * ROW;
    denseForward(wp, bp, hin, hout, nIn, nOut, np);
    if (l < L - 1) {
      activateRows(act, hout, gp, nOut, np);
      gp += <usize>nOut * ROW;
    }
    wp = bp + (<usize>nOut << 2);
    hin = hout;
  }
}

// -------------------------------------------------------------------------------------
// backward
// -------------------------------------------------------------------------------------

/**
 * Lane-form gradient of one dense layer over one block (dense.ts):
 *   gW[o][i] += Σ_p dz[o][p]·x[i][p],   gb[o] += Σ_p dz[o][p]
 * with `gW`, `gb` 16 bytes per parameter.
 */
export function denseGradAccumulate(dz: usize, x: usize, gW: usize, gb: usize, nIn: i32, nOut: i32, np: i32): void {
  denseWeightGradRows(dz, ROW, x, ROW, gW, nIn, nOut, np);
  denseBiasGradRows(dz, ROW, gb, nOut, np);
}

/**
 * dx[i][p] = Σ_o W[o][i]·dz[o][p], times g[i][p] when `g` ≠ 0 (turning dL/dh into dL/dz of
 * the layer below), for one block (dense.ts).
 */
export function denseBackwardInput(W: usize, dz: usize, g: usize, dx: usize, nIn: i32, nOut: i32, np: i32): void {
  denseBackwardRows(W, dz, ROW, g, ROW, dx, ROW, nIn, nOut, np);
}

/**
 * Backward pass of one block: given dL/dv in `dout` ([d][BLOCK], zero on padded points) and the
 * block's cache, adds dL/dθ to the lane-form accumulator `gacc` (16 bytes per parameter, in the
 * canonical order). `scratch` holds backwardScratchBytes(desc) bytes. When `dfeat` ≠ 0 it also
 * receives dL/d(features) as [inputWidth][BLOCK] (the x rows are dL/dx).
 */
export function backwardBlock(
  params: usize,
  desc: usize,
  cache: usize,
  dout: usize,
  gacc: usize,
  scratch: usize,
  dfeat: usize,
  np: i32,
): void {
  const L = descLayers(desc);
  // parameter offsets of the last layer, walked downwards
  let wOff: usize = <usize>paramCount(desc);
  const bufA = scratch;
  const bufB = scratch + <usize>maxWidth(desc) * ROW;
  let dz = dout;
  let next = bufA;
  for (let l = L - 1; l >= 0; l--) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    wOff -= <usize>(nIn + 1) * <usize>nOut;
    const W = params + (wOff << 2);
    const gW = gacc + (wOff << 4);
    const gb = gW + ((<usize>nIn * <usize>nOut) << 4);
    const hin = cacheH(desc, cache, l);
    denseGradAccumulate(dz, hin, gW, gb, nIn, nOut, np);
    if (l > 0) {
      denseBackwardInput(W, dz, cacheG(desc, cache, l), next, nIn, nOut, np);
      dz = next;
      next = next == bufA ? bufB : bufA;
    } else if (dfeat != 0) {
      denseBackwardInput(W, dz, 0, dfeat, nIn, nOut, np);
    }
  }
}

/** Rows of the layer inputs H_0 … H_{L−1} of a block. */
export function inputRows(desc: usize): i32 {
  const L = descLayers(desc);
  let rows = 0;
  for (let l = 0; l < L; l++) rows += descWidth(desc, l);
  return rows;
}

/** out = a ∘ b elementwise over `rows` rows of `np` points of a block. */
export function mulRows(a: usize, b: usize, out: usize, rows: i32, np: i32): void {
  const end = <usize>np << 2;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * ROW;
    for (let k: usize = 0; k < end; k += 16) {
      v128.store(out + off + k, f32x4.mul(v128.load(a + off + k), v128.load(b + off + k)));
    }
  }
}

/**
 * The input gradient of a layer whose weights are a mean plus a perturbation (VIB's two
 * estimators): dL/dz below = (dx + x ∘ dp) ∘ g over `rows` rows of `np` points, into `dx`. `dx`
 * holds the mean's Wᵀ·dz, `dp` the perturbation's transposed product, `x` its input factor
 * (the layer input for local reparameterization, the input signs for flipout), `g` = f'(z).
 */
export function combineInputGrad(dx: usize, x: usize, dp: usize, g: usize, rows: i32, np: i32): void {
  const end = <usize>np << 2;
  for (let i = 0; i < rows; i++) {
    const off = <usize>i * ROW;
    for (let k: usize = 0; k < end; k += 16) {
      const q = off + k;
      const da = f32x4.add(v128.load(dx + q), f32x4.mul(v128.load(x + q), v128.load(dp + q)));
      v128.store(dx + q, f32x4.mul(da, v128.load(g + q)));
    }
  }
}

/**
 * Reduces VIB's lane-form accumulators: dL/dμ from `gaccMu`, and dL/dρ as the perturbation's
 * gradient from `gaccS` times the per-parameter `chain` factor (∂perturbation/∂ρ over what the
 * accumulator holds), P parameters each.
 */
export function reduceVariational(gaccMu: usize, gaccS: usize, chain: usize, P: i32, gradMu: usize, gradRho: usize): void {
  gradReduce(gaccMu, P, gradMu, 1.0);
  gradReduce(gaccS, P, gradRho, 1.0);
  for (let k = 0; k < P; k++) {
    const at = <usize>k << 2;
    store<f32>(gradRho + at, load<f32>(gradRho + at) * load<f32>(chain + at));
  }
}

/** Copies a block's `nb` field values (rows of `v`, [d][BLOCK]) to `out` (SoA [d][n]) at point `start`. */
export function copyBlockOutput(v: usize, d: i32, nb: i32, out: usize, n: i32, start: i32): void {
  for (let j = 0; j < d; j++) {
    memory.copy(out + ((<usize>j * <usize>n + <usize>start) << 2), v + <usize>j * ROW, <usize>nb << 2);
  }
}

/**
 * The CFM residual of one block: for its `nb` points (block columns; padded to `np`), e = v − u
 * per dimension, adds the e² to `loss` (f64, dimension by dimension, in point order) and returns
 * it, and writes dL/dv = e·scale to `dout` ([d][BLOCK], zero on the padding). `v` is the block's
 * output rows, `u` the batch's targets (SoA [d][n]) from point `start` on.
 */
export function cfmResidual(
  loss: f64,
  v: usize,
  u: usize,
  n: i32,
  start: i32,
  d: i32,
  nb: i32,
  np: i32,
  scale: f32,
  dout: usize,
): f64 {
  for (let j = 0; j < d; j++) {
    const vr = v + <usize>j * ROW;
    const dr = dout + <usize>j * ROW;
    const ur = u + ((<usize>j * <usize>n + <usize>start) << 2);
    for (let p = 0; p < nb; p++) {
      const e = load<f32>(vr + (<usize>p << 2)) - load<f32>(ur + (<usize>p << 2));
      loss += <f64>e * <f64>e;
      store<f32>(dr + (<usize>p << 2), e * scale);
    }
    if (np > nb) memory.fill(dr + (<usize>nb << 2), 0, <usize>(np - nb) << 2);
  }
  return loss;
}

/**
 * out[k] = ((s0 + s1) + (s2 + s3))·scale over the lanes of each of `n` lane-form accumulators.
 * Four accumulators at a time by two rounds of pairwise lane sums (shuffles), which associate
 * exactly as the scalar expression does; the rest one by one.
 */
export function gradReduce(gacc: usize, n: i32, out: usize, scale: f32): void {
  const vs = f32x4.splat(scale);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const at = gacc + (<usize>k << 4);
    const a = v128.load(at);
    const b = v128.load(at, 16);
    const c = v128.load(at, 32);
    const d = v128.load(at, 48);
    // [a0 + a1, a2 + a3, b0 + b1, b2 + b3] and the same for c, d
    const ab = f32x4.add(i32x4.shuffle(a, b, 0, 2, 4, 6), i32x4.shuffle(a, b, 1, 3, 5, 7));
    const cd = f32x4.add(i32x4.shuffle(c, d, 0, 2, 4, 6), i32x4.shuffle(c, d, 1, 3, 5, 7));
    // [(a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3), …]
    const s = f32x4.add(i32x4.shuffle(ab, cd, 0, 2, 4, 6), i32x4.shuffle(ab, cd, 1, 3, 5, 7));
    v128.store(out + (<usize>k << 2), f32x4.mul(s, vs));
  }
  for (; k < n; k++) {
    const a = v128.load(gacc + (<usize>k << 4));
    const s =
      f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
    store<f32>(out + (<usize>k << 2), s * scale);
  }
}
