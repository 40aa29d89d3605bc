// VIB's second gradient estimator, flipout (Wen, Vicol, Ba, Tran, Grosse 2018): the same objective
// and posterior family as vib.ts (q(θ) = N(μ, σ²), σ = softplus(ρ)), with the per-point weight
// draws made from ONE Gaussian draw per batch and per-point random signs instead of per-point
// Gaussians.
//
// ## The draw
// Per batch, one standard normal ε_k per parameter gives the perturbation ΔW = σ ∘ ε (weights and
// biases alike). Point p of the batch draws signs s ∈ {±1}^in and r ∈ {±1}^out per layer and sees
//   W_p = μW + ΔW ∘ (r sᵀ),   b_p = μb + Δb ∘ r,
// so its pre-activations are z = μW·a + μb + r ∘ (ΔW·(s ∘ a) + Δb). A sign flip keeps a centred
// Gaussian centred Gaussian, so every point's weights are a draw from q; across the points of a
// batch the draws share |ΔW| and are decorrelated, not independent (local reparameterization,
// vib.ts, gives independent draws at the cost of a Gaussian per point and neuron).
//
// ## Gradient (per point, dz = dL/dz of a layer, dzr = dz ∘ r)
//   dL/dμW = dz·aᵀ,   dL/dμb = dz,   dL/dΔW = dzr·(s ∘ a)ᵀ,   dL/dΔb = dzr
//   dL/da = μWᵀ·dz + s ∘ (ΔWᵀ·dzr)
//   dL/dρ_k = dL/dΔ_k · ε_k · sigmoid(ρ_k)      (dΔ/dρ = ε·σ'(ρ))
// Two forward and four backward products per layer (dense.ts), as local reparameterization has,
// but no per-point Gaussians: 203 random bits a point (paper model) instead of 98 normals.
//
// ## Signs (flipout_signs)
// Rows [0, S) of points [start, start + n), S = Σ_l (in_l + out_l), layer by layer [s_l | r_l],
// f32 ±1 SoA out[r·n + p]. Row r of point i is bit (r mod 32) of word ⌊(r mod 128)/32⌋ of the
// Philox4x32-10 block ⌊r/128⌋ of point i under key (seed, stream) (rng.ts's counter layout): a set
// bit gives −1, a clear bit +1.

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

/** Sign rows per point: Σ_l (in_l + out_l), layer by layer the input signs s, then the output signs r. */
export function flipout_sign_rows(desc: usize): i32 {
  const L = descLayers(desc);
  let rows = 0;
  for (let l = 0; l < L; l++) rows += descWidth(desc, l) + descWidth(desc, l + 1);
  return rows;
}

/** Bytes of the scratch that `flipout_loss_grad` and `flipout_forward` need. */
export function flipout_scratch_bytes(desc: usize): usize {
  const P = paramCount(desc);
  return (
    (<usize>P << 5) + // the μ and Δ lane-form accumulators
    blockCacheBytes(desc) +
    <usize>(inputRows(desc) + flipout_sign_rows(desc)) * ROW + // s ∘ a, the block's signs
    backwardScratchBytes(desc) +
    2 * <usize>maxWidth(desc) * ROW + // dzr, tmp
    <usize>descDim(desc) * ROW // dL/dv
  );
}

// -------------------------------------------------------------------------------------
// the draw
// -------------------------------------------------------------------------------------

/**
 * Expands the Philox block j of four points (PHILOX_OUT, lanes = points) into sign rows
 * [128j, min(128j + 128, S)): f32 ±1 at `dst + r·rowStride`, lane q for point q. Lanes at or beyond
 * `lanes` get 0 when `pad` (a block's padded points), or are not written (an output's end).
 */
// @ts-ignore: decorator
@inline function expandSigns(dst: usize, rowStride: usize, j: i32, S: i32, lanes: i32, pad: bool): void {
  const one = i32x4.splat(0x3f800000);
  const signBit = i32x4.splat(0x80000000);
  // lanes < `lanes` all ones, the rest zero
  const keep = i32x4.gt_s(i32x4.splat(lanes), i32x4(0, 1, 2, 3));
  const r0 = j << 7;
  for (let q = 0; q < 4 && r0 + (q << 5) < S; q++) {
    const w = v128.load(PHILOX_OUT + (<usize>q << 4));
    const first = r0 + (q << 5);
    const last = min(32, S - first);
    for (let b = 0; b < last; b++) {
      // bit b of each lane's word, moved to the sign bit of 1.0f
      const v = v128.and(v128.or(one, v128.and(i32x4.shl(w, 31 - b), signBit)), keep);
      const at = dst + <usize>(first + b) * rowStride;
      storeLanes(at, v, pad ? 4 : lanes);
    }
  }
}

/**
 * The signs of rows [0, rows) of points [start, start + n), f32 ±1 SoA out[r·n + p], by the
 * mapping of the module header; four points per v128 (philoxBlock4). The kernels draw the same
 * signs themselves, block by block. `start` is an integer below 2^53 − n (checked by the host).
 */
export function flipout_signs(seed: u32, stream: u32, start: f64, n: i32, rows: i32, out: usize): void {
  if (n <= 0 || rows <= 0) return;
  const first = <u64>start;
  philoxKeys(seed, stream);
  for (let p = 0; p < n; p += 4) {
    for (let j = 0; j << 7 < rows; j++) {
      philoxBlock4(first + <u64>p, j);
      expandSigns(out + (<usize>p << 2), <usize>n << 2, j, rows, min(4, n - p), false);
    }
  }
}

/**
 * The signs of one block's `nb` points (points first … first + nb − 1 of the stream) into `sgn`
 * ([S][BLOCK]); padded points (nb ≤ p < np) get 0, so they add nothing anywhere. The caller has set
 * the Philox keys (philoxKeys).
 */
function blockSigns(first: u64, S: i32, nb: i32, np: i32, sgn: usize): void {
  for (let p = 0; p < np; p += 4) {
    const lanes = max(0, min(4, nb - p));
    for (let j = 0; j << 7 < S; j++) {
      philoxBlock4(first + <u64>p, j);
      expandSigns(sgn + (<usize>p << 2), ROW, j, S, lanes, true);
    }
  }
}

// -------------------------------------------------------------------------------------
// forward / backward of one block
// -------------------------------------------------------------------------------------

/**
 * Forward pass of one block (features in H_0) under flipout: fills H_1 … H_L, G and SA (the signed
 * layer inputs s ∘ a, kept for the backward pass). `sgn` holds the block's signs.
 */
function flipoutForwardBlock(mu: usize, dW: usize, desc: usize, cache: usize, sa: usize, sgn: usize, np: i32, tmp: usize): void {
  const L = descLayers(desc);
  const act = descAct(desc);
  const end = <usize>np << 2;
  let wOff: usize = 0;
  let hin = cache;
  let sal = sa;
  let sg = sgn;
  let gp = cacheG(desc, cache, 1);
  for (let l = 0; l < L; l++) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    const wBytes = (<usize>nIn * <usize>nOut) << 2;
    const hout = hin + <usize>nIn * ROW;
    const rOut = sg + <usize>nIn * ROW;
    mulRows(hin, sg, sal, nIn, np);
    denseForward(mu + (wOff << 2), mu + (wOff << 2) + wBytes, hin, hout, nIn, nOut, np);
    denseForward(dW + (wOff << 2), dW + (wOff << 2) + wBytes, sal, tmp, nIn, nOut, np);
    // z += r ∘ (ΔW·(s ∘ a) + Δb)
    for (let o = 0; o < nOut; o++) {
      const off = <usize>o * ROW;
      for (let k: usize = 0; k < end; k += 16) {
        const q = off + k;
        v128.store(hout + q, f32x4.add(v128.load(hout + q), f32x4.mul(v128.load(rOut + q), v128.load(tmp + q))));
      }
    }
    if (l < L - 1) {
      activateRows(act, hout, gp, nOut, np);
      gp += <usize>nOut * ROW;
    }
    wOff += <usize>(nIn + 1) * <usize>nOut;
    hin = hout;
    sal += <usize>nIn * ROW;
    sg = rOut + <usize>nOut * ROW;
  }
}

/**
 * Backward pass of one block: given dL/dv (`dout`, [d][BLOCK], zero on padded points) adds
 * Σ dz·a to `gaccMu` and Σ dzr·(s ∘ a) to `gaccD` (lane form, canonical order). `bufA`, `bufB`,
 * `dzr`, `tmp` each hold maxWidth rows.
 */
function flipoutBackwardBlock(
  mu: usize,
  dW: usize,
  desc: usize,
  cache: usize,
  sa: usize,
  sgn: usize,
  dout: usize,
  gaccMu: usize,
  gaccD: usize,
  bufA: usize,
  bufB: usize,
  dzr: usize,
  tmp: usize,
  np: i32,
): void {
  const L = descLayers(desc);
  let wOff: usize = <usize>paramCount(desc);
  // rows of SA_l and of the layer's signs [s_l | r_l], walked downwards from the top layer
  let saRows = inputRows(desc);
  let sgRows = flipout_sign_rows(desc);
  let dz = dout;
  let next = bufA;
  for (let l = L - 1; l >= 0; l--) {
    const nIn = descWidth(desc, l);
    const nOut = descWidth(desc, l + 1);
    wOff -= <usize>(nIn + 1) * <usize>nOut;
    saRows -= nIn;
    sgRows -= nIn + nOut;
    const hin = cacheH(desc, cache, l);
    const sal = sa + <usize>saRows * ROW;
    const sIn = sgn + <usize>sgRows * ROW;
    const rOut = sIn + <usize>nIn * ROW;
    mulRows(dz, rOut, dzr, nOut, np);
    const accW = (<usize>nIn * <usize>nOut) << 4;
    denseGradAccumulate(dz, hin, gaccMu + (wOff << 4), gaccMu + (wOff << 4) + accW, nIn, nOut, np);
    denseGradAccumulate(dzr, sal, gaccD + (wOff << 4), gaccD + (wOff << 4) + accW, nIn, nOut, np);
    if (l > 0) {
      // dL/da = μWᵀ·dz + s ∘ (ΔWᵀ·dzr), then dL/dz below = dL/da ∘ f'(z)
      denseBackwardInput(mu + (wOff << 2), dz, 0, next, nIn, nOut, np);
      denseBackwardInput(dW + (wOff << 2), dzr, 0, tmp, nIn, nOut, np);
      combineInputGrad(next, sIn, tmp, cacheG(desc, cache, l), nIn, np);
      dz = next;
      next = next == bufA ? bufB : bufA;
    }
  }
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * VIB-CFM data term of a batch under flipout, and its gradient: loss = (1/n) Σ_p ‖v_p − u_p‖²
 * with v_p the field under point p's weights (module header), returned (f64); dloss/dμ to
 * `gradMu`, dloss/dρ to `gradRho` ([paramCount] f32 each, overwritten). `dW` and `chain` come from
 * vib_prepare; point p draws the signs of point start + p under (seed, stream) (as
 * flipout_signs); t, x_t, u as in train.ts. `scratch` holds flipout_scratch_bytes(desc) bytes,
 * 16-byte aligned. A non-finite loss comes back as such.
 */
export function flipout_loss_grad(
  mu: usize,
  dW: usize,
  chain: usize,
  desc: usize,
  t: usize,
  xt: usize,
  u: usize,
  seed: u32,
  stream: u32,
  start: f64,
  n: i32,
  gradMu: usize,
  gradRho: usize,
  scratch: usize,
): f64 {
  const d = descDim(desc);
  const L = descLayers(desc);
  const P = paramCount(desc);
  const S = flipout_sign_rows(desc);
  const gaccMu = scratch;
  const gaccD = gaccMu + (<usize>P << 4);
  const cache = gaccD + (<usize>P << 4);
  const sa = cache + blockCacheBytes(desc);
  const sgn = sa + <usize>inputRows(desc) * ROW;
  const bufA = sgn + <usize>S * ROW;
  const bufB = bufA + <usize>maxWidth(desc) * ROW;
  const dzr = bufB + <usize>maxWidth(desc) * ROW;
  const tmp = dzr + <usize>maxWidth(desc) * ROW;
  const dout = tmp + <usize>maxWidth(desc) * ROW;
  memory.fill(gaccMu, 0, <usize>P << 5);
  const scale: f32 = <f32>(2.0 / <f64>n);
  let loss: f64 = 0;
  const first = <u64>start;
  philoxKeys(seed, stream);
  for (let b = 0; b < n; b += BLOCK) {
    const nb = min(BLOCK, n - b);
    const np = paddedPoints(nb);
    const off = <usize>b << 2;
    writeFeatures(desc, cache, t + off, xt + off, n, nb, np);
    blockSigns(first + <u64>b, S, nb, np, sgn);
    flipoutForwardBlock(mu, dW, desc, cache, sa, sgn, np, tmp);
    loss = cfmResidual(loss, cacheH(desc, cache, L), u, n, b, d, nb, np, scale, dout);
    flipoutBackwardBlock(mu, dW, desc, cache, sa, sgn, dout, gaccMu, gaccD, bufA, bufB, dzr, tmp, np);
  }
  reduceVariational(gaccMu, gaccD, chain, P, gradMu, gradRho);
  return loss / <f64>n;
}

/**
 * The field v under flipout with the batch's perturbation `dW` (vib_prepare) and the signs of
 * points start … start + n − 1 under (seed, stream), as flipout_loss_grad samples it, written to
 * `out` (SoA [d][n]). `scratch` holds flipout_scratch_bytes(desc) bytes.
 */
export function flipout_forward(
  mu: usize,
  dW: usize,
  desc: usize,
  t: usize,
  x: usize,
  seed: u32,
  stream: u32,
  start: f64,
  n: i32,
  out: usize,
  scratch: usize,
): void {
  const d = descDim(desc);
  const L = descLayers(desc);
  const P = paramCount(desc);
  const S = flipout_sign_rows(desc);
  const cache = scratch + (<usize>P << 5);
  const sa = cache + blockCacheBytes(desc);
  const sgn = sa + <usize>inputRows(desc) * ROW;
  const tmp = sgn + <usize>S * ROW + 2 * <usize>maxWidth(desc) * ROW;
  const first = <u64>start;
  philoxKeys(seed, stream);
  for (let b = 0; b < n; b += BLOCK) {
    const nb = min(BLOCK, n - b);
    const np = paddedPoints(nb);
    const off = <usize>b << 2;
    writeFeatures(desc, cache, t + off, x + off, n, nb, np);
    blockSigns(first + <u64>b, S, nb, np, sgn);
    flipoutForwardBlock(mu, dW, desc, cache, sa, sgn, np, tmp);
    copyBlockOutput(cacheH(desc, cache, L), d, nb, out, n, b);
  }
}
