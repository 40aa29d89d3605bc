// Mean-field variational inference ("VIB", paper section 3.1, eq. 3.6): the CFM loss under weights
// drawn from q(θ) = N(μ, σ²), σ = softplus(ρ) per weight, its gradient with respect to μ and ρ,
// the closed-form KL(q ‖ N(0, s²)) with its gradient, and a fast Gaussian noise generator.
//
// ## Local reparameterization (Kingma, Salimans, Welling 2015)
// For one point with layer input a, the pre-activation z = W·a + b under W ~ q is Gaussian with
//   mean  m_o = Σ_i μW[o][i]·a_i + μb[o],     variance  s²_o = Σ_i σW[o][i]²·a_i² + σb[o]²,
// independent across o. The kernel samples z_o = m_o + s_o·ε_o with ε a standard normal per point,
// layer and neuron (an input: `eps`, SoA [R][n], R = Σ_l width of layer output l, layers in order).
// Because q is independent across layers and the next layer's input depends only on the earlier
// layers, drawing z layer by layer this way has exactly the joint law of drawing a whole fresh
// weight set W⁽ᵖ⁾ ~ q for every point p and evaluating the deterministic net: each point sees its
// own, independent weight draw. The cost is two dense products per layer forward (μ·a, σ²·a²) and
// four backward, about twice a deterministic step.
//
// ## Gradient (per point, dz = dL/dz_o of a layer, g_o = dz_o·ε_o / s_o)
//   dL/dμW[o][i] = dz_o·a_i           dL/dμb[o] = dz_o
//   dL/dσW[o][i] = σW[o][i]·g_o·a_i²   dL/dσb[o] = σb[o]·g_o      (from ds_o/dσ = σ·a²/s_o)
//   dL/da_i      = Σ_o μW[o][i]·dz_o + a_i·Σ_o σW[o][i]²·g_o
//   dL/dρ        = dL/dσ · σ'(ρ),  σ'(ρ) = sigmoid(ρ)
// The Σ_p g_o·a_i² are accumulated in lane form like the μ gradient (backprop.ts) and multiplied
// by σ·sigmoid(ρ) at the end. Where s_o = 0 (every σ of the row underflowed), g_o is set to 0, the
// limit of σW·g_o·a² as σ → 0.
//
// ## Noise generator (vib_noise)
// Rows [0, R) of points [start, start + n), f32 SoA out[r·n + p]. Block j of point i is
// Philox4x32-10(counter (i mod 2^32, ⌊i/2^32⌋, j, 0), key (seed, stream)) = (w0, w1, w2, w3),
// four points at a time in v128 lanes; it serves rows 4j … 4j+3:
//   U_k = (⌊w_k / 2^8⌋ + ½)·2^−24 ∈ [2^−25, 1 − 2^−25]     (exact in f32)
//   rows 4j, 4j+1:   √(−2 ln U_0)·(cos 2πU_1, sin 2πU_1)       (Box–Muller)
//   rows 4j+2, 4j+3: √(−2 ln U_2)·(cos 2πU_3, sin 2πU_3)
// ln, cos and sin are f32 polynomials (vlog, boxMuller: truncation errors below 3e−9 and 2e−9
// relative), so a normal has a few f32 ulp of error. U ≥ 2^−25 bounds |ε| by √(50 ln 2) ≈ 5.89:
// the tails beyond it (probability 4e−9) are cut, harmless for gradient noise.

import {
  BLOCK,
  ROW,
  activateRows,
  backwardScratchBytes,
  blockCacheBytes,
  cacheG,
  cacheH,
  cfmResidual,
  combineInputGrad,
  copyBlockOutput,
  denseBackwardInput,
  denseForward,
  denseGradAccumulate,
  descAct,
  descDim,
  descLayers,
  descWidth,
  inputRows,
  maxWidth,
  mulRows,
  paddedPoints,
  paramCount,
  reduceVariational,
  writeFeatures,
} from "./backprop";
import { PHILOX_OUT, philoxBlock4, philoxKeys } from "./rng";
import { storeLanes } from "./vmath";

// -------------------------------------------------------------------------------------
// sizes
// -------------------------------------------------------------------------------------

/** Noise rows per point: the widths of all layer outputs, hidden and final. */
export function vib_noise_rows(desc: usize): i32 {
  const L = descLayers(desc);
  let r = 0;
  for (let l = 1; l <= L; l++) r += descWidth(desc, l);
  return r;
}

/** Bytes of a lane-form accumulator (16 per parameter) and of one f32 vector, 16-byte rounded. */
// @ts-ignore: decorator
@inline function accBytes(P: i32): usize {
  return <usize>P << 4;
}

// @ts-ignore: decorator
@inline function vecBytes(P: i32): usize {
  return ((<usize>P << 2) + 15) & ~(<usize>15);
}

/** Rows of a VIB block cache beyond H and G: A2_0 … A2_{L−1} (squared inputs), E_1 … E_L (ε/s). */
function extraRows(desc: usize): i32 {
  return inputRows(desc) + vib_noise_rows(desc);
}

/** Bytes of the scratch that `vib_loss_grad` needs. */
export function vib_scratch_bytes(desc: usize): usize {
  const P = paramCount(desc);
  return (
    2 * accBytes(P) +
    2 * vecBytes(P) +
    blockCacheBytes(desc) +
    <usize>extraRows(desc) * ROW +
    backwardScratchBytes(desc) +
    2 * <usize>maxWidth(desc) * ROW +
    <usize>descDim(desc) * ROW
  );
}

// -------------------------------------------------------------------------------------
// softplus
// -------------------------------------------------------------------------------------

/** 1 / (1 + e^−r), from e = e^−|r|. */
// @ts-ignore: decorator
@inline function sigmoidFrom(r: f64, e: f64): f64 {
  return r >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/**
 * The per-parameter values an estimator's kernel takes in place of ρ, from σ = softplus(ρ) and
 * sg = sigmoid(ρ) (= dσ/dρ), in f64, stored f32 at parameter offset `at`:
 *   local reparameterization (`eps` = 0): a = σ², chain = σ·sg
 *   flipout (`eps` the batch's weight noise ε): a = σ·ε (the perturbation), chain = ε·sg
 */
// @ts-ignore: decorator
@inline function storePrepared(sp: f64, sg: f64, eps: usize, at: usize, a: usize, chain: usize): void {
  if (eps == 0) {
    store<f32>(a + at, <f32>(sp * sp));
    store<f32>(chain + at, <f32>(sp * sg));
  } else {
    const e = <f64>load<f32>(eps + at);
    store<f32>(a + at, <f32>(sp * e));
    store<f32>(chain + at, <f32>(e * sg));
  }
}

// -------------------------------------------------------------------------------------
// forward / backward of one block
// -------------------------------------------------------------------------------------

/**
 * Forward pass of one block (features in H_0) under local reparameterization. `mu`, `vr` are the
 * means and variances σ² in the canonical layout; `epsRow0` points at row 0, point `start` of the
 * noise ([R][n] f32); fills H_1 … H_L, G, A2 (squared layer inputs) and E (ε/s, 0 where s = 0).
 */
function vibForwardBlock(
  mu: usize,
  vr: usize,
  desc: usize,
  cache: usize,
  a2Base: usize,
  eBase: usize,
  epsRow0: usize,
  n: i32,
  nb: i32,
  np: i32,
  tmp: usize,
): void {
  const L = descLayers(desc);
  const act = descAct(desc);
  const zero = f32x4.splat(0.0);
  const end = <usize>np << 2;
  let wOff: usize = 0;
  let hin = cache;
  let a2 = a2Base;
  let e = eBase;
  let gp = cacheG(desc, cache, 1);
  let epsRow = epsRow0;
  const rowStride = <usize>n << 2;
  for (let l = 0; l < L; l++) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    const wBytes = (<usize>nIn * <usize>nOut) << 2;
    mulRows(hin, hin, a2, nIn, np);
    const hout = hin + <usize>nIn * ROW;
    denseForward(mu + (wOff << 2), mu + (wOff << 2) + wBytes, hin, hout, nIn, nOut, np);
    denseForward(vr + (wOff << 2), vr + (wOff << 2) + wBytes, a2, tmp, nIn, nOut, np);
    for (let o = 0; o < nOut; o++) {
      const er = e + <usize>o * ROW;
      memory.copy(er, epsRow + <usize>o * rowStride, <usize>nb << 2);
      if (np > nb) memory.fill(er + (<usize>nb << 2), 0, <usize>(np - nb) << 2);
      const hr = hout + <usize>o * ROW;
      const sr = tmp + <usize>o * ROW;
      for (let k: usize = 0; k < end; k += 16) {
        const s = f32x4.sqrt(v128.load(sr + k));
        const eps = v128.load(er + k);
        v128.store(hr + k, f32x4.add(v128.load(hr + k), f32x4.mul(s, eps)));
        // ε/s where s > 0, else 0 (the comparison is false for s = 0 and for NaN)
        v128.store(er + k, v128.and(f32x4.div(eps, s), f32x4.gt(s, zero)));
      }
    }
    if (l < L - 1) {
      activateRows(act, hout, gp, nOut, np);
      gp += <usize>nOut * ROW;
    }
    wOff += <usize>(nIn + 1) * <usize>nOut;
    epsRow += <usize>nOut * rowStride;
    hin = hout;
    a2 += <usize>nIn * ROW;
    e += <usize>nOut * ROW;
  }
}

/**
 * Backward pass of one block: given dL/dv (`dout`, [d][BLOCK], zero on padded points) adds
 * Σ dz·a to `gaccMu` and Σ g·a² (g = dz·ε/s) to `gaccS`, lane form, canonical order.
 * `bufA`, `bufB`, `bufG`, `tmp` each hold maxWidth rows.
 */
function vibBackwardBlock(
  mu: usize,
  vr: usize,
  desc: usize,
  cache: usize,
  a2Base: usize,
  eBase: usize,
  dout: usize,
  gaccMu: usize,
  gaccS: usize,
  bufA: usize,
  bufB: usize,
  bufG: usize,
  tmp: usize,
  np: i32,
): void {
  const L = descLayers(desc);
  const end = <usize>np << 2;
  let wOff: usize = <usize>paramCount(desc);
  // row offsets of A2_l and E_{l+1}, walked downwards from the top layer
  let a2Rows = 0;
  for (let l = 0; l < L - 1; l++) a2Rows += descWidth(desc, l);
  let eRows = vib_noise_rows(desc) - descWidth(desc, L);
  let dz = dout;
  let next = bufA;
  for (let l = L - 1; l >= 0; l--) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    wOff -= <usize>(nIn + 1) * <usize>nOut;
    const hin = cacheH(desc, cache, l);
    const a2 = a2Base + <usize>a2Rows * ROW;
    const e = eBase + <usize>eRows * ROW;
    // g = dz·(ε/s)
    for (let o = 0; o < nOut; o++) {
      const off = <usize>o * ROW;
      for (let k: usize = 0; k < end; k += 16) {
        v128.store(bufG + off + k, f32x4.mul(v128.load(dz + off + k), v128.load(e + off + k)));
      }
    }
    const gMu = gaccMu + (wOff << 4);
    const gS = gaccS + (wOff << 4);
    const accW = (<usize>nIn * <usize>nOut) << 4;
    denseGradAccumulate(dz, hin, gMu, gMu + accW, nIn, nOut, np);
    denseGradAccumulate(bufG, a2, gS, gS + accW, nIn, nOut, np);
    if (l > 0) {
      // dL/da = μWᵀ·dz + a ∘ (σ²Wᵀ·g), then dL/dz below = dL/da ∘ f'(z)
      denseBackwardInput(mu + (wOff << 2), dz, 0, next, nIn, nOut, np);
      denseBackwardInput(vr + (wOff << 2), bufG, 0, tmp, nIn, nOut, np);
      combineInputGrad(next, hin, tmp, cacheG(desc, cache, l), nIn, np);
      dz = next;
      next = next == bufA ? bufB : bufA;
      a2Rows -= descWidth(desc, l - 1);
      eRows -= nIn;
    }
  }
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * What the kernels take in place of ρ, [P] f32 each (storePrepared): σ² and σ·sigmoid(ρ) for
 * vib_loss_grad (`eps` = 0), or the perturbation σ·ε and ε·sigmoid(ρ) for flipout_loss_grad (`eps`
 * the batch's weight noise), σ = softplus(ρ) in f64. Formed once per batch (a batch cut into
 * chunks shares them); a training forms them in its vib_kl pass instead.
 */
export function vib_prepare(rho: usize, eps: usize, P: i32, a: usize, chain: usize): void {
  for (let k = 0; k < P; k++) {
    const at = <usize>k << 2;
    const r = <f64>load<f32>(rho + at);
    const e = Math.exp(-Math.abs(r));
    storePrepared(max(r, 0.0) + Math.log1p(e), sigmoidFrom(r, e), eps, at, a, chain);
  }
}

/**
 * VIB-CFM data term of a batch under local reparameterization, and its gradient:
 * loss = (1/n) Σ_p ‖v(t_p, x_t,p; z sampled with ε_p) − u_p‖² (as cfm_loss_grad), returned (f64);
 * dloss/dμ to `gradMu`, dloss/dρ to `gradRho` ([paramCount] f32 each, overwritten). σ enters as
 * vib_prepare's `vr` and `chain`. `eps` is SoA [R][n] f32 with R = vib_noise_rows(desc); t, x_t, u
 * as in train.ts. `scratch` holds vib_scratch_bytes(desc) bytes, 16-byte aligned. A non-finite
 * loss comes back as such.
 */
export function vib_loss_grad(
  mu: usize,
  vr: usize,
  chain: usize,
  desc: usize,
  t: usize,
  xt: usize,
  u: usize,
  eps: usize,
  n: i32,
  gradMu: usize,
  gradRho: usize,
  scratch: usize,
): f64 {
  const d = descDim(desc);
  const L = descLayers(desc);
  const P = paramCount(desc);
  const gaccMu = scratch;
  const gaccS = gaccMu + accBytes(P);
  const cache = gaccS + accBytes(P) + 2 * vecBytes(P);
  const a2Base = cache + blockCacheBytes(desc);
  const eBase = a2Base + <usize>inputRows(desc) * ROW;
  const bwd = a2Base + <usize>extraRows(desc) * ROW;
  const bufA = bwd;
  const bufB = bwd + <usize>maxWidth(desc) * ROW;
  const bufG = bufB + <usize>maxWidth(desc) * ROW;
  const tmp = bufG + <usize>maxWidth(desc) * ROW;
  const dout = tmp + <usize>maxWidth(desc) * ROW;
  memory.fill(gaccMu, 0, 2 * accBytes(P));
  const scale: f32 = <f32>(2.0 / <f64>n);
  let loss: f64 = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const nb = min(BLOCK, n - start);
    const np = paddedPoints(nb);
    const off = <usize>start << 2;
    writeFeatures(desc, cache, t + off, xt + off, n, nb, np);
    vibForwardBlock(mu, vr, desc, cache, a2Base, eBase, eps + off, n, nb, np, tmp);
    const v = cacheH(desc, cache, L);
    loss = cfmResidual(loss, v, u, n, start, d, nb, np, scale, dout);
    vibBackwardBlock(mu, vr, desc, cache, a2Base, eBase, dout, gaccMu, gaccS, bufA, bufB, bufG, tmp, np);
  }
  reduceVariational(gaccMu, gaccS, chain, P, gradMu, gradRho);
  return loss / <f64>n;
}

/**
 * The field v under local reparameterization with σ² `vr` (vib_prepare) and noise `eps` (SoA
 * [R][n]), as vib_loss_grad samples it, written to `out` (SoA [d][n]). `scratch` holds
 * vib_scratch_bytes(desc) bytes.
 */
export function vib_forward(
  mu: usize,
  vr: usize,
  desc: usize,
  t: usize,
  x: usize,
  eps: usize,
  n: i32,
  out: usize,
  scratch: usize,
): void {
  const d = descDim(desc);
  const L = descLayers(desc);
  const P = paramCount(desc);
  const cache = scratch + 2 * accBytes(P) + 2 * vecBytes(P);
  const a2Base = cache + blockCacheBytes(desc);
  const eBase = a2Base + <usize>inputRows(desc) * ROW;
  const tmp = a2Base + <usize>extraRows(desc) * ROW;
  for (let start = 0; start < n; start += BLOCK) {
    const nb = min(BLOCK, n - start);
    const np = paddedPoints(nb);
    const off = <usize>start << 2;
    writeFeatures(desc, cache, t + off, x + off, n, nb, np);
    vibForwardBlock(mu, vr, desc, cache, a2Base, eBase, eps + off, n, nb, np, tmp);
    copyBlockOutput(cacheH(desc, cache, L), d, nb, out, n, start);
  }
}

/**
 * KL(N(μ_k, σ_k²) ‖ N(0, s²)) = ln(s/σ_k) + (σ_k² + μ_k²)/(2s²) − ½ per parameter (σ = softplus(ρ)),
 * in f64. Writes out[0] = Σ_k c_k·KL_k and out[1] = Σ_k KL_k (f64) and ADDS c_k·∇KL_k to the
 * gradients: dKL/dμ = μ/s², dKL/dρ = (σ/s² − 1/σ)·sigmoid(ρ). `coef` is f32 [n] (c_k). When `a`
 * ≠ 0 it also writes what vib_prepare(rho, eps, n, a, chain) would, from the same σ: a training
 * forms softplus once a step.
 */
export function vib_kl(
  mu: usize,
  rho: usize,
  n: i32,
  priorScale: f64,
  coef: usize,
  gradMu: usize,
  gradRho: usize,
  out: usize,
  eps: usize,
  a: usize,
  chain: usize,
): void {
  const s2 = priorScale * priorScale;
  const lnS = Math.log(priorScale);
  let weighted: f64 = 0;
  let raw: f64 = 0;
  for (let k = 0; k < n; k++) {
    const at = <usize>k << 2;
    const m = <f64>load<f32>(mu + at);
    const r = <f64>load<f32>(rho + at);
    const c = <f64>load<f32>(coef + at);
    const e = Math.exp(-Math.abs(r));
    const sp = max(r, 0.0) + Math.log1p(e);
    const sig = sigmoidFrom(r, e);
    const kl = lnS - Math.log(sp) + (sp * sp + m * m) / (2.0 * s2) - 0.5;
    raw += kl;
    weighted += c * kl;
    store<f32>(gradMu + at, load<f32>(gradMu + at) + <f32>((c * m) / s2));
    store<f32>(gradRho + at, load<f32>(gradRho + at) + <f32>(c * (sp / s2 - 1.0 / sp) * sig));
    if (a != 0) storePrepared(sp, sig, eps, at, a, chain);
  }
  store<f64>(out, weighted);
  store<f64>(out, raw, 8);
}

// -------------------------------------------------------------------------------------
// noise
// -------------------------------------------------------------------------------------

const LN2: f32 = 0.6931471805599453;
const SQRT2: f32 = 1.4142135623730951;
const TWO_PI: f32 = 6.283185307179586;
const Ox1p_24: f32 = 5.9604644775390625e-8; // 2^-24
const ROUND_BIAS: f32 = 12582912.0; // 1.5·2^23: x + it rounds x (|x| < 2^22) to an integer, ties to even

const N_LN2 = 0;
const N_SQRT2 = 1;
const N_TWO_PI = 2;
const N_OX1P_24 = 3;
const N_ROUND_BIAS = 4;
const N_HALF = 5;
const N_ONE = 6;
const N_MINUS_TWO = 7;
const N_FOUR = 8;
const N_QUARTER = 9;
const N_INV9 = 10;
const N_INV7 = 11;
const N_INV5 = 12;
const N_INV3 = 13;
const N_S9 = 14;
const N_S7 = 15;
const N_S5 = 16;
const N_S3 = 17;
const N_C10 = 18;
const N_C8 = 19;
const N_C6 = 20;
const N_C4 = 21;
const N_MANT = 22;
const N_ONE_BITS = 23;
const N_I127 = 24;
const N_I1 = 25;
const N_I2 = 26;
const N_I3 = 27;
/** The noise generator's constants (f32 values or i32 bit patterns), read by v128.load32_splat: V8 builds
 * a v128.const from two 64-bit immediates (three instructions) at every use inside a loop. */
const NOISE_CONST = memory.data<f32>([
  LN2, SQRT2, TWO_PI, Ox1p_24, ROUND_BIAS, 0.5, 1.0, -2.0, 4.0, 0.25, <f32>(1.0 / 9.0), <f32>(1.0 / 7.0),
  <f32>(1.0 / 5.0), <f32>(1.0 / 3.0), <f32>(1.0 / 362880.0), <f32>(1.0 / 5040.0), <f32>(1.0 / 120.0),
  <f32>(1.0 / 6.0), <f32>(-1.0 / 3628800.0), <f32>(1.0 / 40320.0), <f32>(1.0 / 720.0), <f32>(1.0 / 24.0),
  reinterpret<f32>(0x007fffff), reinterpret<f32>(0x3f800000), reinterpret<f32>(127), reinterpret<f32>(1),
  reinterpret<f32>(2), reinterpret<f32>(3),
], 16);

/** Constant `i` of NOISE_CONST in all four lanes. */
// @ts-ignore: decorator
@inline function nc(i: i32): v128 {
  return v128.load32_splat(NOISE_CONST + (<usize>i << 2));
}

/**
 * ln x per lane for normal positive f32 x. x = m·2^e with m ∈ [√½, √2); s = (m − 1)/(m + 1),
 * |s| ≤ 0.1716; ln m = 2·atanh s = 2s·(1 + s²/3 + s⁴/5 + s⁶/7 + s⁸/9), truncation below
 * s¹⁰/11·(1/(1 − s²)) ≈ 2.3e−9 relative.
 */
// @ts-ignore: decorator
@inline function vlog(x: v128, kLN2: v128, kSQRT2: v128, kHALF: v128, kONE: v128, kINV9: v128, kINV7: v128,
  kINV5: v128, kINV3: v128, kMANT: v128, kONE_BITS: v128, kI127: v128): v128 {
  let e = i32x4.sub(i32x4.shr_u(x, 23), kI127);
  let m = v128.or(v128.and(x, kMANT), kONE_BITS);
  const big = f32x4.gt(m, kSQRT2);
  m = v128.bitselect(f32x4.mul(m, kHALF), m, big);
  e = i32x4.sub(e, big); // big lanes are −1: e + 1
  const s = f32x4.div(f32x4.sub(m, kONE), f32x4.add(m, kONE));
  const s2 = f32x4.mul(s, s);
  let p = kINV9;
  p = f32x4.add(f32x4.mul(p, s2), kINV7);
  p = f32x4.add(f32x4.mul(p, s2), kINV5);
  p = f32x4.add(f32x4.mul(p, s2), kINV3);
  p = f32x4.add(f32x4.mul(p, s2), kONE);
  const lnm = f32x4.mul(f32x4.add(s, s), p);
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e), kLN2), lnm);
}

/**
 * Box–Muller from two lane vectors of uniforms: stores √(−2 ln u)·cos 2πv at `dst` and
 * √(−2 ln u)·sin 2πv at `dst + 16`. cos 2πv and sin 2πv: q = round(4v) (ties to even),
 * φ = 2π(v − q/4) ∈ [−π/4, π/4] (v − q/4 is exact); Taylor polynomials of sin (degree 9,
 * remainder ≤ (π/4)¹¹/11! = 1.8e−9) and cos (degree 10, ≤ (π/4)¹²/12! = 1.1e−10); then the
 * quadrant q mod 4 rotates (c, s) to (c, s), (−s, c), (−c, −s), (s, −c).
 */
// @ts-ignore: decorator
@inline function boxMuller(u: v128, v: v128, dst: usize, kTWO_PI: v128, kROUND_BIAS: v128, kHALF: v128, kONE: v128,
  kMINUS_TWO: v128, kFOUR: v128, kQUARTER: v128, kS9: v128, kS7: v128, kS5: v128, kS3: v128, kC10: v128, kC8: v128,
  kC6: v128, kC4: v128, kI1: v128, kI2: v128, kI3: v128, kLN2: v128, kSQRT2: v128, kINV9: v128, kINV7: v128,
  kINV5: v128, kINV3: v128, kMANT: v128, kONE_BITS: v128, kI127: v128): void {
  const rad = f32x4.sqrt(f32x4.mul(kMINUS_TWO, vlog(u, kLN2, kSQRT2, kHALF, kONE, kINV9, kINV7, kINV5, kINV3, kMANT,
    kONE_BITS, kI127)));
  const y = f32x4.add(f32x4.mul(v, kFOUR), kROUND_BIAS);
  const q = f32x4.sub(y, kROUND_BIAS);
  const qi = v128.and(y, kI3); // the integer's low bits sit in the mantissa's low bits
  const phi = f32x4.mul(f32x4.sub(v, f32x4.mul(q, kQUARTER)), kTWO_PI);
  const p2 = f32x4.mul(phi, phi);
  let sp = kS9;
  sp = f32x4.sub(f32x4.mul(sp, p2), kS7);
  sp = f32x4.add(f32x4.mul(sp, p2), kS5);
  sp = f32x4.sub(f32x4.mul(sp, p2), kS3);
  sp = f32x4.add(f32x4.mul(sp, p2), kONE);
  const sn = f32x4.mul(sp, phi);
  let cp = kC10;
  cp = f32x4.add(f32x4.mul(cp, p2), kC8);
  cp = f32x4.sub(f32x4.mul(cp, p2), kC6);
  cp = f32x4.add(f32x4.mul(cp, p2), kC4);
  cp = f32x4.sub(f32x4.mul(cp, p2), kHALF);
  const cs = f32x4.add(f32x4.mul(cp, p2), kONE);
  const swap = i32x4.eq(v128.and(qi, kI1), kI1);
  const c0 = v128.bitselect(sn, cs, swap);
  const s0 = v128.bitselect(cs, sn, swap);
  // cos negative in quadrants 1, 2: bit 1 of q + 1; sin negative in 2, 3: bit 1 of q
  const cosv = v128.xor(c0, i32x4.shl(v128.and(i32x4.add(qi, kI1), kI2), 30));
  const sinv = v128.xor(s0, i32x4.shl(v128.and(qi, kI2), 30));
  v128.store(dst, f32x4.mul(rad, cosv));
  v128.store(dst, f32x4.mul(rad, sinv), 16);
}

/** (⌊w / 2^8⌋ + ½)·2^−24 per lane: a uniform in (0, 1), exact in f32. */
// @ts-ignore: decorator
@inline function vuniform(w: v128, kOX1P_24: v128, kHALF: v128): v128 {
  return f32x4.mul(f32x4.add(f32x4.convert_i32x4_u(i32x4.shr_u(w, 8)), kHALF), kOX1P_24);
}

/** Four v128 of a block's normals, rows 4j … 4j+3 (static data, 16-byte aligned). */
const NOISE_TMP: usize = memory.data(64, 16);

/**
 * Standard normals for rows [0, rows) of points [start, start + n), f32 SoA out[r·n + p], by the
 * mapping of the module header. Four points per v128: rng.ts's philoxBlock4 runs the Philox
 * rounds lane-parallel. `start` is an integer below 2^53 − n (checked by the host).
 */
export function vib_noise(seed: u32, stream: u32, start: f64, n: i32, rows: i32, out: usize): void {
  if (n <= 0 || rows <= 0) return;
  const first = <u64>start;
  const blocks = (rows + 3) >> 2;
  const rowBytes = <usize>n << 2;
  // the generator's constants, loaded once (V8 keeps them in registers or spills them)
  const kLN2 = nc(N_LN2);
  const kSQRT2 = nc(N_SQRT2);
  const kTWO_PI = nc(N_TWO_PI);
  const kOX1P_24 = nc(N_OX1P_24);
  const kROUND_BIAS = nc(N_ROUND_BIAS);
  const kHALF = nc(N_HALF);
  const kONE = nc(N_ONE);
  const kMINUS_TWO = nc(N_MINUS_TWO);
  const kFOUR = nc(N_FOUR);
  const kQUARTER = nc(N_QUARTER);
  const kINV9 = nc(N_INV9);
  const kINV7 = nc(N_INV7);
  const kINV5 = nc(N_INV5);
  const kINV3 = nc(N_INV3);
  const kS9 = nc(N_S9);
  const kS7 = nc(N_S7);
  const kS5 = nc(N_S5);
  const kS3 = nc(N_S3);
  const kC10 = nc(N_C10);
  const kC8 = nc(N_C8);
  const kC6 = nc(N_C6);
  const kC4 = nc(N_C4);
  const kMANT = nc(N_MANT);
  const kONE_BITS = nc(N_ONE_BITS);
  const kI127 = nc(N_I127);
  const kI1 = nc(N_I1);
  const kI2 = nc(N_I2);
  const kI3 = nc(N_I3);
  philoxKeys(seed, stream);
  for (let p = 0; p < n; p += 4) {
    const lanes = min(4, n - p);
    for (let j = 0; j < blocks; j++) {
      // the block j of the four points p … p + 3 (rng.ts: counter (i mod 2^32, ⌊i/2^32⌋, j, 0))
      philoxBlock4(first + <u64>p, j);
      const c0 = v128.load(PHILOX_OUT);
      const c1 = v128.load(PHILOX_OUT, 16);
      const c2 = v128.load(PHILOX_OUT, 32);
      const c3 = v128.load(PHILOX_OUT, 48);
      boxMuller(vuniform(c0, kOX1P_24, kHALF), vuniform(c1, kOX1P_24, kHALF), NOISE_TMP, kTWO_PI, kROUND_BIAS, kHALF,
        kONE, kMINUS_TWO, kFOUR, kQUARTER, kS9, kS7, kS5, kS3, kC10, kC8, kC6, kC4, kI1, kI2, kI3, kLN2, kSQRT2, kINV9,
        kINV7, kINV5, kINV3, kMANT, kONE_BITS, kI127);
      boxMuller(vuniform(c2, kOX1P_24, kHALF), vuniform(c3, kOX1P_24, kHALF), NOISE_TMP + 32, kTWO_PI, kROUND_BIAS,
        kHALF, kONE, kMINUS_TWO, kFOUR, kQUARTER, kS9, kS7, kS5, kS3, kC10, kC8, kC6, kC4, kI1, kI2, kI3, kLN2, kSQRT2,
        kINV9, kINV7, kINV5, kINV3, kMANT, kONE_BITS, kI127);
      const row = 4 * j;
      const base = out + (<usize>p << 2) + <usize>row * rowBytes;
      const last = min(4, rows - row);
      for (let q = 0; q < last; q++) {
        const z = v128.load(NOISE_TMP + (<usize>q << 4));
        storeLanes(base + <usize>q * rowBytes, z, lanes);
      }
    }
  }
}
