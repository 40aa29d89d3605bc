// Training kernels: the conditional-flow-matching (CFM) loss and its gradient fused in one pass
// over a batch (paper eq. 3.4), the generic cached forward / backward of the vector field for
// other losses, and the Adam / AdamW update.
//
// Conventions (see backprop.ts for the model descriptor, the block layout and the lane-form
// gradient accumulators):
// - Times `t` are f32 [n], one per point. Points (x, x_t, u, v, dL/dv) are f32 SoA [d][n]:
//   coordinate j of point p at index j·n + p.
// - Gradients come out in the canonical parameter order of shared/model/spec.ts.
// - The CFM loss is (1/n) Σ_p ‖v(t_p, x_t,p) − u_p‖², summed over dimensions and averaged over
//   points, as the reference code computes it (`((v − u)**2).sum(-1).mean()`).

import {
  BLOCK,
  ROW,
  backwardBlock,
  backwardScratchBytes,
  blockCacheBytes,
  cacheH,
  cfmResidual,
  copyBlockOutput,
  descDim,
  descLayers,
  descWidth,
  forwardBlock,
  gradReduce,
  paddedPoints,
  paramCount,
  writeFeatures,
} from "./backprop";

// -------------------------------------------------------------------------------------
// sizes
// -------------------------------------------------------------------------------------

/** Number of parameters the descriptor describes. */
export function train_param_count(desc: usize): i32 {
  return paramCount(desc);
}

/** Points per block of the training kernels (batches are processed block by block). */
export function train_block_points(): i32 {
  return BLOCK;
}

/** Bytes of a lane-form gradient accumulator (16 per parameter). */
export function grad_acc_bytes(desc: usize): usize {
  return <usize>paramCount(desc) << 4;
}

/** Bytes of the scratch that `cfm_loss_grad` needs. */
export function cfm_scratch_bytes(desc: usize): usize {
  return grad_acc_bytes(desc) + blockCacheBytes(desc) + backwardScratchBytes(desc) + <usize>descDim(desc) * ROW;
}

/** Bytes of the cache that `mlp_forward_cached` fills for `n` points. */
export function mlp_cache_bytes(desc: usize, n: i32): usize {
  const blocks = <usize>((n + BLOCK - 1) / BLOCK);
  return blocks * blockCacheBytes(desc);
}

/** Bytes of the scratch that `mlp_backward` needs. */
export function mlp_backward_scratch_bytes(desc: usize): usize {
  return backwardScratchBytes(desc) + <usize>(descDim(desc) + descWidth(desc, 0)) * ROW;
}

// -------------------------------------------------------------------------------------
// CFM
// -------------------------------------------------------------------------------------

/**
 * Builds the CFM regression pairs of a batch (eq. 3.4 with μ_t = t·x1, σ_t = 1 − (1 − σ_min)·t):
 *   x1 = data[idx[p]] (data row-major [N][d]),  x_t = (1 − (1 − σ_min)·t)·x0 + t·x1,
 *   u = x1 − (1 − σ_min)·x0.
 * `x0`, `xt`, `u` are SoA [d][n]; `t` is [n]. Arithmetic in f32.
 */
export function cfm_pairs(data: usize, idx: usize, x0: usize, t: usize, n: i32, d: i32, sigmaMin: f32, xt: usize, u: usize): void {
  const c: f32 = 1.0 - sigmaMin;
  for (let p = 0; p < n; p++) {
    const tp = load<f32>(t + (<usize>p << 2));
    const row = data + ((<usize>load<i32>(idx + (<usize>p << 2)) * <usize>d) << 2);
    const s: f32 = 1.0 - c * tp;
    for (let j = 0; j < d; j++) {
      const at = (<usize>j * <usize>n + <usize>p) << 2;
      const a = load<f32>(x0 + at);
      const b = load<f32>(row + (<usize>j << 2));
      store<f32>(xt + at, s * a + tp * b);
      store<f32>(u + at, b - c * a);
    }
  }
}

/**
 * A Fisher–Yates shuffle of 0 … N−1 into `perm` (i32 [N]) driven by the f64 uniforms `w` ([N]):
 * perm[i] = i, then for i = N−1 down to 1 swap perm[i] and perm[⌊w[i]·(i + 1)⌋]. The index is
 * formed in f64 exactly as `Math.floor(w[i] * (i + 1))` in JavaScript.
 */
export function shuffle_indices(w: usize, N: i32, perm: usize): void {
  for (let i = 0; i < N; i++) store<i32>(perm + (<usize>i << 2), i);
  for (let i = N - 1; i > 0; i--) {
    const j = <i32>Math.floor(load<f64>(w + (<usize>i << 3)) * <f64>(i + 1));
    const a = perm + (<usize>i << 2);
    const b = perm + (<usize>j << 2);
    const x = load<i32>(a);
    store<i32>(a, load<i32>(b));
    store<i32>(b, x);
  }
}

/** dst[k] = src[k] rounded to f32 (to nearest, ties to even), k < n. */
export function demote_f64(src: usize, n: i32, dst: usize): void {
  let k = 0;
  for (; k + 2 <= n; k += 2) {
    v128.store64_lane(dst + (<usize>k << 2), f32x4.demote_f64x2_zero(v128.load(src + (<usize>k << 3))), 0);
  }
  if (k < n) store<f32>(dst + (<usize>k << 2), <f32>load<f64>(src + (<usize>k << 3)));
}

/**
 * CFM loss and gradient of a batch, in one pass: per block of points, forward with cached
 * activations, dL/dv = (2/n)·(v − u), backward into lane-form accumulators; then one reduction.
 * Writes dL/dθ to `gradOut` ([paramCount] f32, overwritten) and returns the loss (f64; the
 * per-point squared norms are summed in f64 in point order). `scratch` holds
 * cfm_scratch_bytes(desc) bytes, 16-byte aligned. A non-finite loss comes back as such; the
 * gradient is then meaningless and the caller skips the step.
 */
export function cfm_loss_grad(
  params: usize,
  desc: usize,
  t: usize,
  xt: usize,
  u: usize,
  n: i32,
  gradOut: usize,
  scratch: usize,
): f64 {
  const d = descDim(desc);
  const L = descLayers(desc);
  const P = paramCount(desc);
  const gacc = scratch;
  const cache = gacc + grad_acc_bytes(desc);
  const bwd = cache + blockCacheBytes(desc);
  const dout = bwd + backwardScratchBytes(desc);
  memory.fill(gacc, 0, grad_acc_bytes(desc));
  const scale: f32 = <f32>(2.0 / <f64>n);
  let loss: f64 = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const nb = min(BLOCK, n - start);
    const np = paddedPoints(nb);
    const off = <usize>start << 2;
    writeFeatures(desc, cache, t + off, xt + off, n, nb, np);
    forwardBlock(params, desc, cache, np);
    const v = cacheH(desc, cache, L);
    loss = cfmResidual(loss, v, u, n, start, d, nb, np, scale, dout);
    backwardBlock(params, desc, cache, dout, gacc, bwd, 0, np);
  }
  gradReduce(gacc, P, gradOut, 1.0);
  return loss / <f64>n;
}

// -------------------------------------------------------------------------------------
// generic forward / backward
// -------------------------------------------------------------------------------------

/**
 * Forward pass over `n` points that keeps every block's cache (mlp_cache_bytes(desc, n) bytes at
 * `cache`) for `mlp_backward`, and writes the field v to `out` (SoA [d][n]).
 */
export function mlp_forward_cached(params: usize, desc: usize, t: usize, x: usize, n: i32, cache: usize, out: usize): void {
  const d = descDim(desc);
  const L = descLayers(desc);
  const bytes = blockCacheBytes(desc);
  let c = cache;
  for (let start = 0; start < n; start += BLOCK) {
    const nb = min(BLOCK, n - start);
    const np = paddedPoints(nb);
    const off = <usize>start << 2;
    writeFeatures(desc, c, t + off, x + off, n, nb, np);
    forwardBlock(params, desc, c, np);
    copyBlockOutput(cacheH(desc, c, L), d, nb, out, n, start);
    c += bytes;
  }
}

/**
 * Backward pass after `mlp_forward_cached` over the same `n` points: given dL/dv (`dout`, SoA
 * [d][n]), adds dL/dθ to the lane-form accumulator `gacc` (grad_acc_bytes(desc) bytes; zero it
 * before the first call, reduce it with `grad_reduce`), and when `dx` ≠ 0 writes dL/dx (SoA
 * [d][n]). `scratch` holds mlp_backward_scratch_bytes(desc) bytes.
 */
export function mlp_backward(
  params: usize,
  desc: usize,
  cache: usize,
  dout: usize,
  n: i32,
  gacc: usize,
  scratch: usize,
  dx: usize,
): void {
  const d = descDim(desc);
  const base = descWidth(desc, 0) - d; // x rows follow t and the 2K time features
  const bytes = blockCacheBytes(desc);
  const dblock = scratch + backwardScratchBytes(desc);
  const dfeat = dx != 0 ? dblock + <usize>d * ROW : 0;
  let c = cache;
  for (let start = 0; start < n; start += BLOCK) {
    const nb = min(BLOCK, n - start);
    const np = paddedPoints(nb);
    const off = <usize>start << 2;
    for (let j = 0; j < d; j++) {
      const dr = dblock + <usize>j * ROW;
      memory.copy(dr, dout + ((<usize>j * <usize>n) << 2) + off, <usize>nb << 2);
      if (np > nb) memory.fill(dr + (<usize>nb << 2), 0, <usize>(np - nb) << 2);
    }
    backwardBlock(params, desc, c, dblock, gacc, scratch, dfeat, np);
    if (dx != 0) {
      for (let j = 0; j < d; j++) {
        memory.copy(dx + ((<usize>j * <usize>n) << 2) + off, dfeat + <usize>(base + j) * ROW, <usize>nb << 2);
      }
    }
    c += bytes;
  }
}

/** out[k] = scale · (sum of the 4 lanes of accumulator k), k < n; lanes summed as (s0 + s1) + (s2 + s3). */
export function grad_reduce(gacc: usize, n: i32, out: usize, scale: f32): void {
  gradReduce(gacc, n, out, scale);
}

/**
 * The ordered weighted sum of per-chunk gradients (shared/train/parallel.ts):
 *   out[k] = f32( (…((0 + w_0·g_0,k) + w_1·g_1,k) + …) + w_{C−1}·g_{C−1,k} )
 * in f64, chunk by chunk in order, rounded once to f32; g_c,k is f32 at `slots + 4·(c·G + k)`,
 * w_c is f64 at `w + 8c`. Two values of k per f64x2: each lane performs exactly the scalar
 * sequence, so the result is the same bit for bit as that loop written in JavaScript.
 */
export function chunk_sum(slots: usize, chunks: i32, G: i32, w: usize, out: usize): void {
  const stride = <usize>G << 2;
  const G2 = G & ~1;
  for (let k = 0; k < G2; k += 2) {
    let s = f64x2.splat(0);
    let g = slots + (<usize>k << 2);
    for (let c = 0; c < chunks; c++) {
      const x = f64x2.promote_low_f32x4(v128.load64_zero(g));
      s = f64x2.add(s, f64x2.mul(v128.load64_splat(w + (<usize>c << 3)), x));
      g += stride;
    }
    v128.store64_lane(out + (<usize>k << 2), f32x4.demote_f64x2_zero(s), 0);
  }
  if (G2 < G) {
    let s: f64 = 0;
    for (let c = 0; c < chunks; c++) s += load<f64>(w + (<usize>c << 3)) * <f64>load<f32>(slots + ((<usize>c * <usize>G + <usize>G2) << 2));
    store<f32>(out + (<usize>G2 << 2), <f32>s);
  }
}

// -------------------------------------------------------------------------------------
// optimizers
// -------------------------------------------------------------------------------------

/**
 * One Adam (decoupled = 0) or AdamW (decoupled = 1) step over `n` f32 parameters, in the form of
 * PyTorch 1.13's single-tensor implementation (step counts from 1):
 *   Adam:  g ← g + λ·θ            AdamW: θ ← θ·(1 − lr·λ)
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1^step)) · m / (√v / √(1 − β2^step) + ε)
 * The scalar factors are formed in f64 and rounded once to f32; the per-parameter arithmetic
 * is f32, four parameters per v128 with a scalar tail.
 */
export function adam_step(
  params: usize,
  grad: usize,
  m: usize,
  v: usize,
  n: i32,
  lr: f64,
  beta1: f64,
  beta2: f64,
  eps: f64,
  weightDecay: f64,
  decoupled: i32,
  step: i32,
): void {
  const bc1 = 1.0 - Math.pow(beta1, <f64>step);
  const bc2 = 1.0 - Math.pow(beta2, <f64>step);
  const stepSize = <f32>(lr / bc1);
  const invSqrtBc2 = <f32>(1.0 / Math.sqrt(bc2));
  const b1 = <f32>beta1;
  const c1 = <f32>(1.0 - beta1);
  const b2 = <f32>beta2;
  const c2 = <f32>(1.0 - beta2);
  const e = <f32>eps;
  const l2 = decoupled != 0 ? <f32>0 : <f32>weightDecay;
  const shrink = decoupled != 0 ? <f32>(1.0 - lr * weightDecay) : <f32>1;
  const vb1 = f32x4.splat(b1), vc1 = f32x4.splat(c1), vb2 = f32x4.splat(b2), vc2 = f32x4.splat(c2);
  const ve = f32x4.splat(e), vl2 = f32x4.splat(l2), vshrink = f32x4.splat(shrink);
  const vstep = f32x4.splat(stepSize), vinv = f32x4.splat(invSqrtBc2);
  const n4 = n & ~3;
  for (let k = 0; k < n4; k += 4) {
    const at = <usize>k << 2;
    let th = v128.load(params + at);
    let g = v128.load(grad + at);
    g = f32x4.add(g, f32x4.mul(vl2, th));
    th = f32x4.mul(th, vshrink);
    const mm = f32x4.add(f32x4.mul(vb1, v128.load(m + at)), f32x4.mul(vc1, g));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v + at)), f32x4.mul(vc2, f32x4.mul(g, g)));
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(vv), vinv), ve);
    v128.store(m + at, mm);
    v128.store(v + at, vv);
    v128.store(params + at, f32x4.sub(th, f32x4.mul(vstep, f32x4.div(mm, den))));
  }
  for (let k = n4; k < n; k++) {
    const at = <usize>k << 2;
    let th = load<f32>(params + at);
    const g = load<f32>(grad + at) + l2 * th;
    th = th * shrink;
    const mm = b1 * load<f32>(m + at) + c1 * g;
    const vv = b2 * load<f32>(v + at) + c2 * (g * g);
    const den = Mathf.sqrt(vv) * invSqrtBc2 + e;
    store<f32>(m + at, mm);
    store<f32>(v + at, vv);
    store<f32>(params + at, th - stepSize * (mm / den));
  }
}
