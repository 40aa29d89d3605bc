// Log-likelihood of data under the CNF and the exact gradient of the summed negative
// log-likelihood with respect to the parameters (the AdamMCMC energy, paper section 3.2).
//
// The flow. The field v(t, z; θ) carries the latent (t = 0) to the data (t = 1). For a data point
// x the augmented state (z, ℓ) is integrated BACKWARDS from t = 1 to t = 0 with z(1) = x, ℓ(1) = 0
// and dz/dt = v(t, z), dℓ/dt = tr ∂v/∂z (t, z); then ℓ(0) = −∫₀¹ tr ∂v/∂z dt and
//   log p(x) = log N(z(0); 0, I) + ℓ(0) = −½‖z(0)‖² − (d/2)·log 2π + ℓ(0),
// the instantaneous change of variables. The solver is a fixed-step explicit Runge–Kutta method
// (Euler, midpoint or classical RK4) with `steps` equal steps h = −1/steps on the augmented state,
// as the reference code does it: every stage evaluates v and its divergence at the same point.
//
// Exact divergence by forward-mode tangents. Alongside the primary pass through the MLP, d tangent
// passes carry ∂/∂z_j for j = 1 … d:  ż_1^(j) = W_1[:, x_j] (the input tangent is the unit vector of
// coordinate j), ḣ_l^(j) = f'(z_l) ⊙ ż_l^(j), ż_{l+1}^(j) = W_{l+1} ḣ_l^(j), and the output tangent
// ż_L^(j) is column j of the Jacobian, so div v = Σ_j ż_L^(j)[j]. The tangents ride in extra columns
// of the same matrix products: a block of B points is a row of (1 + d)·B columns
// [primary | tangent 1 | … | tangent d], the bias added to the primary columns only (dense.ts's
// products, with the stage records' row strides).
//
// Exact gradient by discrete backpropagation. The energy E = Σ_p −log p(x_p) is differentiated
// through the discretized solver (not through the continuous adjoint ODE), so the gradient is that
// of the very function this kernel evaluates, up to f32 rounding. For a stage with input y, outputs
// v and div, and upstream adjoints v̄ (vector) and d̄ (scalar), reverse mode through the primary and
// tangent passes gives, layer by layer downwards (z̄_L = v̄, ż̄_L^(j) = d̄·e_j):
//   W̄_l += z̄_l h_{l−1}ᵀ + Σ_j ż̄_l^(j) ḣ_{l−1}^(j)ᵀ,   b̄_l += z̄_l,
//   h̄_{l−1} = W_lᵀ z̄_l,   ḣ̄_{l−1}^(j) = W_lᵀ ż̄_l^(j),
//   ż̄_{l−1}^(j) = f'(z) ⊙ ḣ̄^(j),   z̄_{l−1} = f'(z) ⊙ h̄ + f''(z) ⊙ Σ_j ḣ̄^(j) ⊙ ż^(j),
// the last term the second derivative that the divergence brings in. Through one step of an
// explicit method with stage inputs y_k = y + h·a_k·v_{k−1} and update y' = y + h·Σ b_k v_k,
// ℓ' = ℓ + h·Σ b_k div_k:  ℓ̄ = ∂E/∂ℓ(0) = −1 throughout, d̄_k = h·b_k·ℓ̄,
// v̄_k = h·b_k·ȳ' + h·a_{k+1}·ȳ_{k+1}, and ȳ = ȳ' + Σ_k ȳ_k; at the end ȳ(0) = ∂E/∂z(0) = z(0).
//
// Blocks. Points are processed LL_BLOCK at a time, each block integrated forward and then backward
// before the next, so memory grows with the number of solver stages, not with the batch: a block
// keeps every stage's activations (steps × stages × stage_bytes). The tail block is padded with
// zero points whose adjoints are zero, so they contribute exactly 0. Gradients accumulate in the
// lane form of backprop.ts (4 f32 partial sums per parameter, fixed order), energies in f64 in
// point order: results are bit-for-bit reproducible for a given batch.
//
// Stage cache (per block and stage): the stage input X ([d][B] f32), then for every hidden layer
// l = 1 … L−1 one record per neuron, row stride RS = (2d + 3)·B floats:
//   [0, (1+d)B)        h_l and the tangents ḣ_l^(j) (the next layer's input)
//   [(1+d)B, (1+2d)B)  ż_l^(j), j = 1 … d
//   [(1+2d)B, (2+2d)B) f'(z_l)
//   [(2+2d)B, (3+2d)B) f''(z_l)

import {
  ACT_ELU,
  ACT_SILU,
  ACT_TANH,
  descAct,
  descDim,
  descFreq,
  descLayers,
  descWidth,
  gradReduce,
  maxWidth,
  paramCount,
  vexpm1,
} from "./backprop";
import { denseBackwardRows, denseBiasGradRows, denseForwardRows, denseWeightGradRows } from "./dense";
import { K_E1, K_E2, K_E3, K_E4, K_E5, K_LOG2E, K_MAGIC, K_ONE, K_X_MIN, expEluK, k, madd } from "./vmath";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Points per block: a multiple of 16, the column tile of the matrix products and the ELU pass. */
export const LL_BLOCK: i32 = 16;
/** Bytes of one [B] row of a block. */
const LBB: usize = <usize>LL_BLOCK << 2;

export const SOLVER_EULER: i32 = 0;
export const SOLVER_MIDPOINT: i32 = 1;
export const SOLVER_RK4: i32 = 2;

/** Number of stages of a solver. */
function stageCount(solver: i32): i32 {
  return solver == SOLVER_EULER ? 1 : solver == SOLVER_MIDPOINT ? 2 : 4;
}

/** Node c_k of stage k (stage time t + c_k·h). */
function tabC(solver: i32, k: i32): f64 {
  if (k == 0) return 0.0;
  if (solver == SOLVER_MIDPOINT) return 0.5;
  return k == 3 ? 1.0 : 0.5;
}

/** a_k: stage k's input is y + h·a_k·v_{k−1} (these methods use only the previous stage). */
function tabA(solver: i32, k: i32): f64 {
  if (k == 0) return 0.0;
  if (solver == SOLVER_MIDPOINT) return 0.5;
  return k == 3 ? 1.0 : 0.5;
}

/** Weight b_k of stage k in the update y' = y + h·Σ b_k v_k. */
function tabB(solver: i32, k: i32): f64 {
  if (solver == SOLVER_EULER) return 1.0;
  if (solver == SOLVER_MIDPOINT) return k == 1 ? 1.0 : 0.0;
  return k == 0 || k == 3 ? 1.0 / 6.0 : 1.0 / 3.0;
}

/** Columns of an extended row: primary and d tangents. */
// @ts-ignore: decorator
@inline function extCols(d: i32): i32 {
  return (1 + d) * LL_BLOCK;
}

/** Row stride of a hidden-layer record, in bytes. */
// @ts-ignore: decorator
@inline function recStride(d: i32): usize {
  return <usize>((2 * d + 3) * LL_BLOCK) << 2;
}

/** Offset (in floats) of the first parameter of linear layer `li` (0-based). */
function layerOffset(desc: usize, li: i32): usize {
  let off = 0;
  for (let k = 0; k < li; k++) off += (descWidth(desc, k) + 1) * descWidth(desc, k + 1);
  return <usize>off;
}

/** Bytes of one stage's cache. */
function stageBytes(desc: usize): usize {
  const d = descDim(desc);
  const L = descLayers(desc);
  let rows = 0;
  for (let l = 1; l < L; l++) rows += descWidth(desc, l);
  return <usize>d * LBB + <usize>rows * recStride(d);
}

/** Offset of hidden layer l's records (1 ≤ l < L) inside a stage cache. */
function stageRec(desc: usize, stage: usize, l: i32): usize {
  const d = descDim(desc);
  let rows = 0;
  for (let k = 1; k < l; k++) rows += descWidth(desc, k);
  return stage + <usize>d * LBB + <usize>rows * recStride(d);
}

/** Widest hidden layer. */
function maxHidden(desc: usize): i32 {
  const L = descLayers(desc);
  let w = 0;
  for (let l = 1; l < L; l++) w = max(w, descWidth(desc, l));
  return w;
}

// -------------------------------------------------------------------------------------
// scratch layout
// -------------------------------------------------------------------------------------

// Offsets inside the scratch, computed once per call (globals keep the kernel signatures short).
let sGacc: usize = 0;
let sCache: usize = 0;
let sBufA: usize = 0;
let sBufB: usize = 0;
let sZout: usize = 0;
let sFeat: usize = 0;
let sY: usize = 0;
let sKprev: usize = 0;
let sKsum: usize = 0;
let sYbar: usize = 0;
let sYsum: usize = 0;
let sYbarK: usize = 0;
let sVbar: usize = 0;
let sEll: usize = 0;
let sDsum: usize = 0;
let sDiv: usize = 0;
let sMask: usize = 0;
let sDbar: usize = 0;

/** Lays the scratch out from `base`; returns its total size in bytes. */
function layout(desc: usize, solver: i32, steps: i32, withGrad: bool, base: usize): usize {
  const d = descDim(desc);
  const C = extCols(d);
  const slots = withGrad ? <usize>steps * <usize>stageCount(solver) : 1;
  let at = base;
  sGacc = at;
  if (withGrad) at += <usize>paramCount(desc) << 4;
  sCache = at;
  at += slots * stageBytes(desc);
  const adj = (<usize>maxWidth(desc) * <usize>C) << 2;
  sBufA = at;
  at += adj;
  sBufB = at;
  at += adj;
  sZout = at;
  at += (<usize>d * <usize>C) << 2;
  sFeat = at;
  at += ((<usize>(1 + 2 * descFreq(desc)) << 2) + 15) & ~15;
  const row = <usize>d * LBB;
  sY = at;
  at += row;
  sKprev = at;
  at += row;
  sKsum = at;
  at += row;
  sYbar = at;
  at += row;
  sYsum = at;
  at += row;
  sYbarK = at;
  at += row;
  sVbar = at;
  at += row;
  sEll = at;
  at += LBB;
  sDsum = at;
  at += LBB;
  sDiv = at;
  at += LBB;
  sMask = at;
  at += LBB;
  sDbar = at;
  at += LBB;
  return at - base;
}

/**
 * Bytes of scratch that `loglik_forward` (withGrad = 0) or `loglik_energy_grad` (withGrad = 1)
 * needs; 16-byte aligned. With the gradient it grows with steps × stages (one block's stage caches).
 */
export function loglik_scratch_bytes(desc: usize, solver: i32, steps: i32, withGrad: i32): usize {
  return layout(desc, solver, steps, withGrad != 0, 0);
}

/** Bytes of one stage's cache for one block: `loglik_energy_grad` keeps steps × stages of them. */
export function loglik_stage_bytes(desc: usize): usize {
  return stageBytes(desc);
}

/** Points per block of the log-likelihood kernels. */
export function loglik_block_points(): i32 {
  return LL_BLOCK;
}

// -------------------------------------------------------------------------------------
// activations with first and second derivatives
// -------------------------------------------------------------------------------------

/**
 * Activates `rows` hidden-layer records in place (stride RS): the primary columns hold z on entry,
 * f(z) on exit; f'(z) and f''(z) go to their columns; each tangent ż^(j) is saved to its column
 * and replaced by ḣ^(j) = f'(z)·ż^(j).
 *   ELU:  e = e^{min(z, 0)} by ELU's reduction and polynomial (vmath.ts expEluK), f = max(z, e − 1)
 *         (bit-identical to the generation kernel's ELU), f' = e (1 for z ≥ 0), f'' = z > 0 ? 0 : e
 *   SiLU: s = 1/(1 + e^−z) = 1/(2 + expm1(−z)),  f = z·s,  f' = s·(1 + z·(1 − s)),
 *         f'' = s·(1 − s)·(2 + z·(1 − 2s))
 *   tanh: f = sign(z)·(−e/(e + 2)) with e = expm1(−2|z|),  f' = 1 − f²,  f'' = −2·f·f'
 *   ReLU: f = max(z, 0),  f' = z > 0 ? 1 : 0,  f'' = 0
 */
function activateRecords(act: i32, rec: usize, rows: i32, d: i32): void {
  const RS = recStride(d);
  const one = k(K_ONE);
  const two = f32x4.splat(2.0);
  const zero = f32x4.splat(0.0);
  const zdOff = <usize>((1 + d) * LL_BLOCK) << 2;
  const gOff = zdOff + <usize>d * LBB;
  const f2Off = gOff + LBB;
  // ELU's exp constants from vmath's table, loaded once (v128.const costs V8 three instructions
  // per use inside a loop)
  const log2e = k(K_LOG2E), magic = k(K_MAGIC), xMin = k(K_X_MIN);
  const c1 = k(K_E1), c2 = k(K_E2), c3 = k(K_E3), c4 = k(K_E4), c5 = k(K_E5);
  for (let o = 0; o < rows; o++) {
    const r = rec + <usize>o * RS;
    if (act == ACT_ELU) {
      // e = e^{min(z, 0)} (vmath.ts expEluK), four independent vectors per iteration (the exp is a
      // dependent chain; interleaving four hides its latency): f = max(z, e − 1), f' = e,
      // f'' = z > 0 ? 0 : e
      for (let k: usize = 0; k < LBB; k += 64) {
        const z0 = v128.load(r + k);
        const z1 = v128.load(r + k, 16);
        const z2 = v128.load(r + k, 32);
        const z3 = v128.load(r + k, 48);
        const x0 = expEluK(z0, log2e, magic, xMin, one, c1, c2, c3, c4, c5);
        const x1 = expEluK(z1, log2e, magic, xMin, one, c1, c2, c3, c4, c5);
        const x2 = expEluK(z2, log2e, magic, xMin, one, c1, c2, c3, c4, c5);
        const x3 = expEluK(z3, log2e, magic, xMin, one, c1, c2, c3, c4, c5);
        v128.store(r + k, f32x4.pmax(z0, f32x4.sub(x0, one)));
        v128.store(r + k, f32x4.pmax(z1, f32x4.sub(x1, one)), 16);
        v128.store(r + k, f32x4.pmax(z2, f32x4.sub(x2, one)), 32);
        v128.store(r + k, f32x4.pmax(z3, f32x4.sub(x3, one)), 48);
        v128.store(r + gOff + k, x0);
        v128.store(r + gOff + k, x1, 16);
        v128.store(r + gOff + k, x2, 32);
        v128.store(r + gOff + k, x3, 48);
        v128.store(r + f2Off + k, v128.andnot(x0, f32x4.gt(z0, zero)));
        v128.store(r + f2Off + k, v128.andnot(x1, f32x4.gt(z1, zero)), 16);
        v128.store(r + f2Off + k, v128.andnot(x2, f32x4.gt(z2, zero)), 32);
        v128.store(r + f2Off + k, v128.andnot(x3, f32x4.gt(z3, zero)), 48);
      }
    } else if (act == ACT_SILU) {
      for (let k: usize = 0; k < LBB; k += 16) {
        const z = v128.load(r + k);
        const s = f32x4.div(one, f32x4.add(vexpm1(f32x4.neg(z)), two));
        const oms = f32x4.sub(one, s);
        v128.store(r + k, f32x4.mul(z, s));
        v128.store(r + gOff + k, f32x4.mul(s, madd(z, oms, one)));
        v128.store(r + f2Off + k, f32x4.mul(f32x4.mul(s, oms), madd(z, f32x4.sub(oms, s), two)));
      }
    } else if (act == ACT_TANH) {
      for (let k: usize = 0; k < LBB; k += 16) {
        const z = v128.load(r + k);
        const e = vexpm1(f32x4.mul(f32x4.abs(z), f32x4.splat(-2.0)));
        const th = f32x4.div(f32x4.neg(e), f32x4.add(e, two));
        const f = v128.or(th, v128.and(z, i32x4.splat(0x80000000)));
        const g = f32x4.sub(one, f32x4.mul(f, f));
        v128.store(r + k, f);
        v128.store(r + gOff + k, g);
        v128.store(r + f2Off + k, f32x4.mul(f32x4.mul(f, g), f32x4.splat(-2.0)));
      }
    } else {
      for (let k: usize = 0; k < LBB; k += 16) {
        const z = v128.load(r + k);
        v128.store(r + k, f32x4.pmax(z, zero)); // pmax(z, 0) = z < 0 ? 0 : z keeps a NaN
        v128.store(r + gOff + k, v128.and(one, f32x4.gt(z, zero)));
        v128.store(r + f2Off + k, zero);
      }
    }
    // tangents: save ż^(j), replace it by ḣ^(j) = f'·ż^(j)
    for (let j = 0; j < d; j++) {
      const tp = r + (<usize>(1 + j) * LBB);
      const sp = r + zdOff + <usize>j * LBB;
      for (let k: usize = 0; k < LBB; k += 16) {
        const zd = v128.load(tp + k);
        v128.store(sp + k, zd);
        v128.store(tp + k, f32x4.mul(v128.load(r + gOff + k), zd));
      }
    }
  }
}

/**
 * Turns the adjoint of a hidden layer's extended output (h̄ | ḣ̄^(j), `rows` rows of stride `as`
 * at `a`) into the adjoint of its pre-activations, in place:
 *   z̄ = f'·h̄ + f''·Σ_j ḣ̄^(j)·ż^(j),   ż̄^(j) = f'·ḣ̄^(j).
 */
function backActivate(rec: usize, a: usize, as: usize, rows: i32, d: i32): void {
  const RS = recStride(d);
  const zdOff = <usize>((1 + d) * LL_BLOCK) << 2;
  const gOff = zdOff + <usize>d * LBB;
  const f2Off = gOff + LBB;
  for (let o = 0; o < rows; o++) {
    const r = rec + <usize>o * RS;
    const ar = a + <usize>o * as;
    for (let k: usize = 0; k < LBB; k += 16) {
      const g = v128.load(r + gOff + k);
      let gbar = f32x4.splat(0);
      for (let j = 0; j < d; j++) {
        const tp = ar + (<usize>(1 + j) * LBB) + k;
        const hd = v128.load(tp);
        gbar = madd(hd, v128.load(r + zdOff + <usize>j * LBB + k), gbar);
        v128.store(tp, f32x4.mul(g, hd));
      }
      const hb = v128.load(ar + k);
      v128.store(ar + k, madd(v128.load(r + f2Off + k), gbar, f32x4.mul(g, hb)));
    }
  }
}

// -------------------------------------------------------------------------------------
// one stage: field, divergence and their reverse mode
// -------------------------------------------------------------------------------------

/** The time features [t, cos πt, sin πt, …, cos Kπt, sin Kπt] of a stage (f32, from f64). */
function writeStageFeatures(K: i32, t: f64, feat: usize): void {
  const tf = <f32>t;
  store<f32>(feat, tf);
  for (let k = 1; k <= K; k++) {
    const a = <f64>k * Math.PI * <f64>tf;
    store<f32>(feat + (<usize>(2 * k - 1) << 2), <f32>Math.cos(a));
    store<f32>(feat + (<usize>(2 * k) << 2), <f32>Math.sin(a));
  }
}

/**
 * Forward pass of one stage whose input points are in the stage cache's X rows and whose time
 * features are at sFeat: fills the records, writes v to `v` ([d][B]) and div v to `div` ([B]).
 * The first layer folds the time features, equal for every point of a stage, into its bias:
 * z_1 = (b_1 + W_1[:, time]·feat) + W_1[:, x]·y; its tangents are the columns W_1[:, x_j].
 */
function stageForward(params: usize, desc: usize, stage: usize, v: usize, div: usize): void {
  const d = descDim(desc);
  const K = descFreq(desc);
  const L = descLayers(desc);
  const act = descAct(desc);
  const C = extCols(d);
  const RS = recStride(d);
  const base = 1 + 2 * K;
  const nIn0 = descWidth(desc, 0);
  const w1 = descWidth(desc, 1);
  // layer 1
  const W1 = params;
  const b1 = W1 + ((<usize>nIn0 * <usize>w1) << 2);
  const rec1 = stageRec(desc, stage, 1);
  for (let o = 0; o < w1; o++) {
    const wr = W1 + ((<usize>o * <usize>nIn0) << 2);
    let be = load<f32>(b1 + (<usize>o << 2));
    for (let i = 0; i < base; i++) be += load<f32>(wr + (<usize>i << 2)) * load<f32>(sFeat + (<usize>i << 2));
    const r = rec1 + <usize>o * RS;
    for (let k: usize = 0; k < LBB; k += 16) {
      let a = f32x4.splat(be);
      for (let j = 0; j < d; j++) {
        a = madd(f32x4.splat(load<f32>(wr + (<usize>(base + j) << 2))), v128.load(stage + <usize>j * LBB + k), a);
      }
      v128.store(r + k, a);
    }
    for (let j = 0; j < d; j++) {
      const c = f32x4.splat(load<f32>(wr + (<usize>(base + j) << 2)));
      const tp = r + <usize>(1 + j) * LBB;
      for (let k: usize = 0; k < LBB; k += 16) v128.store(tp + k, c);
    }
  }
  activateRecords(act, rec1, w1, d);
  // hidden layers 2 … L−1
  for (let l = 2; l < L; l++) {
    const nIn = descWidth(desc, l - 1);
    const nOut = descWidth(desc, l);
    const W = params + (layerOffset(desc, l - 1) << 2);
    const b = W + ((<usize>nIn * <usize>nOut) << 2);
    const rec = stageRec(desc, stage, l);
    denseForwardRows(W, b, stageRec(desc, stage, l - 1), RS, rec, RS, nIn, nOut, C, LL_BLOCK);
    activateRecords(act, rec, nOut, d);
  }
  // output layer: v and the full Jacobian's columns, of which the diagonal gives div v
  const nIn = descWidth(desc, L - 1);
  const W = params + (layerOffset(desc, L - 1) << 2);
  const b = W + ((<usize>nIn * <usize>d) << 2);
  const cs = <usize>C << 2;
  denseForwardRows(W, b, stageRec(desc, stage, L - 1), RS, sZout, cs, nIn, d, C, LL_BLOCK);
  for (let j = 0; j < d; j++) memory.copy(v + <usize>j * LBB, sZout + <usize>j * cs, LBB);
  for (let k: usize = 0; k < LBB; k += 16) {
    let s = f32x4.splat(0);
    for (let j = 0; j < d; j++) s = f32x4.add(s, v128.load(sZout + <usize>j * cs + <usize>(1 + j) * LBB + k));
    v128.store(div + k, s);
  }
}

/**
 * Reverse mode of one stage (after stageForward filled its cache): given v̄ (sVbar, [d][B]) and
 * d̄ (sDbar, [B]), adds dE/dθ to the lane-form accumulator and writes ȳ, the adjoint of the
 * stage's input points, to sYbarK ([d][B]).
 */
function stageBackward(params: usize, desc: usize, stage: usize): void {
  const d = descDim(desc);
  const K = descFreq(desc);
  const L = descLayers(desc);
  const C = extCols(d);
  const RS = recStride(d);
  const cs = <usize>C << 2;
  const base = 1 + 2 * K;
  // output layer: z̄ = [v̄ | d̄·e_1 | … | d̄·e_d]
  for (let j = 0; j < d; j++) {
    const zr = sZout + <usize>j * cs;
    memory.copy(zr, sVbar + <usize>j * LBB, LBB);
    for (let q = 0; q < d; q++) {
      const tp = zr + <usize>(1 + q) * LBB;
      if (q == j) memory.copy(tp, sDbar, LBB);
      else memory.fill(tp, 0, LBB);
    }
  }
  let nIn = descWidth(desc, L - 1);
  let off = layerOffset(desc, L - 1);
  let W = params + (off << 2);
  let gW = sGacc + (off << 4);
  let hin = stageRec(desc, stage, L - 1);
  denseWeightGradRows(sZout, cs, hin, RS, gW, nIn, d, C);
  denseBiasGradRows(sZout, cs, gW + ((<usize>nIn * <usize>d) << 4), d, LL_BLOCK);
  let cur = sBufA;
  let other = sBufB;
  denseBackwardRows(W, sZout, cs, 0, 0, cur, cs, nIn, d, C);
  // hidden layers L−1 … 2: cur holds the adjoint of layer l's extended output
  for (let l = L - 1; l >= 2; l--) {
    const nOut = descWidth(desc, l);
    nIn = descWidth(desc, l - 1);
    off = layerOffset(desc, l - 1);
    W = params + (off << 2);
    gW = sGacc + (off << 4);
    backActivate(stageRec(desc, stage, l), cur, cs, nOut, d);
    hin = stageRec(desc, stage, l - 1);
    denseWeightGradRows(cur, cs, hin, RS, gW, nIn, nOut, C);
    denseBiasGradRows(cur, cs, gW + ((<usize>nIn * <usize>nOut) << 4), nOut, LL_BLOCK);
    denseBackwardRows(W, cur, cs, 0, 0, other, cs, nIn, nOut, C);
    const t = cur;
    cur = other;
    other = t;
  }
  // layer 1: inputs are the time features (folded into the bias), then y with unit tangents
  const nIn0 = descWidth(desc, 0);
  const w1 = descWidth(desc, 1);
  backActivate(stageRec(desc, stage, 1), cur, cs, w1, d);
  const rowG = <usize>nIn0 << 4;
  const gb1 = sGacc + ((<usize>nIn0 * <usize>w1) << 4);
  for (let j = 0; j < d; j++) memory.fill(sYbarK + <usize>j * LBB, 0, LBB);
  for (let o = 0; o < w1; o++) {
    const zr = cur + <usize>o * cs;
    const g = sGacc + <usize>o * rowG;
    let s = f32x4.splat(0);
    for (let k: usize = 0; k < LBB; k += 16) s = f32x4.add(s, v128.load(zr + k));
    const bp = gb1 + (<usize>o << 4);
    v128.store(bp, f32x4.add(v128.load(bp), s));
    // time columns: ∂z/∂W[o][i] = feat_i for every point
    for (let i = 0; i < base; i++) {
      const gp = g + (<usize>i << 4);
      v128.store(gp, madd(f32x4.splat(load<f32>(sFeat + (<usize>i << 2))), s, v128.load(gp)));
    }
    for (let j = 0; j < d; j++) {
      const gp = g + (<usize>(base + j) << 4);
      const yr = stage + <usize>j * LBB;
      const tr = zr + <usize>(1 + j) * LBB;
      let a = v128.load(gp);
      for (let k: usize = 0; k < LBB; k += 16) a = madd(v128.load(zr + k), v128.load(yr + k), a);
      for (let k: usize = 0; k < LBB; k += 16) a = f32x4.add(a, v128.load(tr + k));
      v128.store(gp, a);
      // ȳ_j += W_1[o][x_j]·z̄[o]
      const c = f32x4.splat(load<f32>(params + ((<usize>o * <usize>nIn0 + <usize>(base + j)) << 2)));
      const yb = sYbarK + <usize>j * LBB;
      for (let k: usize = 0; k < LBB; k += 16) v128.store(yb + k, madd(c, v128.load(zr + k), v128.load(yb + k)));
    }
  }
}

// -------------------------------------------------------------------------------------
// the solver over one block
// -------------------------------------------------------------------------------------

/** dst = a + s·b over `n` floats (multiple of 4). */
function axpyRows(dst: usize, a: usize, s: f32, b: usize, n: i32): void {
  const vs = f32x4.splat(s);
  const end = <usize>n << 2;
  for (let k: usize = 0; k < end; k += 16) v128.store(dst + k, madd(vs, v128.load(b + k), v128.load(a + k)));
}

/**
 * Integrates the block's points (sY, [d][B]) from t = 1 to t = 0 with ℓ in sEll; each stage's
 * activations go to cache slot s·S + k when `keep`, else all to slot 0.
 */
function integrateBlock(params: usize, desc: usize, solver: i32, steps: i32, keep: bool): void {
  const d = descDim(desc);
  const K = descFreq(desc);
  const S = stageCount(solver);
  const sb = stageBytes(desc);
  const h = -1.0 / <f64>steps;
  const row = d * LL_BLOCK;
  memory.fill(sEll, 0, LBB);
  for (let s = 0; s < steps; s++) {
    const t0 = 1.0 - <f64>s / <f64>steps;
    memory.fill(sKsum, 0, <usize>row << 2);
    memory.fill(sDsum, 0, LBB);
    for (let k = 0; k < S; k++) {
      const stage = keep ? sCache + <usize>(s * S + k) * sb : sCache;
      if (k == 0) memory.copy(stage, sY, <usize>row << 2);
      else axpyRows(stage, sY, <f32>(h * tabA(solver, k)), sKprev, row);
      writeStageFeatures(K, t0 + tabC(solver, k) * h, sFeat);
      stageForward(params, desc, stage, sKprev, sDiv);
      const bk = <f32>tabB(solver, k);
      if (bk != 0) {
        axpyRows(sKsum, sKsum, bk, sKprev, row);
        axpyRows(sDsum, sDsum, bk, sDiv, LL_BLOCK);
      }
    }
    axpyRows(sY, sY, <f32>h, sKsum, row);
    axpyRows(sEll, sEll, <f32>h, sDsum, LL_BLOCK);
  }
}

/** Loads `nb` points of a block from SoA x ([d][n]) into sY, zero-padded to LL_BLOCK. */
function loadBlock(x: usize, n: i32, start: i32, nb: i32, d: i32): void {
  for (let j = 0; j < d; j++) {
    const dst = sY + <usize>j * LBB;
    memory.copy(dst, x + ((<usize>j * <usize>n + <usize>start) << 2), <usize>nb << 2);
    if (nb < LL_BLOCK) memory.fill(dst + (<usize>nb << 2), 0, <usize>(LL_BLOCK - nb) << 2);
  }
}

/** log p of point p of the block: −½‖z(0)‖² − (d/2)·log 2π + ℓ(0), in f64. */
function blockLogp(d: i32, p: i32): f64 {
  let q: f64 = 0;
  for (let j = 0; j < d; j++) {
    const z = <f64>load<f32>(sY + <usize>j * LBB + (<usize>p << 2));
    q += z * z;
  }
  return -0.5 * q - 0.5 * <f64>d * Math.log(2.0 * Math.PI) + <f64>load<f32>(sEll + (<usize>p << 2));
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * log p(x) of `n` points (SoA [d][n] f32 at `x`) under the flow, into `out` ([n] f64). `solver`:
 * 0 Euler, 1 midpoint, 2 RK4; `steps` equal steps from t = 1 to t = 0. `scratch` holds
 * loglik_scratch_bytes(desc, solver, steps, 0) bytes, 16-byte aligned.
 */
export function loglik_forward(
  params: usize,
  desc: usize,
  x: usize,
  n: i32,
  solver: i32,
  steps: i32,
  out: usize,
  scratch: usize,
): void {
  layout(desc, solver, steps, false, scratch);
  const d = descDim(desc);
  for (let start = 0; start < n; start += LL_BLOCK) {
    const nb = min(LL_BLOCK, n - start);
    loadBlock(x, n, start, nb, d);
    integrateBlock(params, desc, solver, steps, false);
    for (let p = 0; p < nb; p++) store<f64>(out + (<usize>(start + p) << 3), blockLogp(d, p));
  }
}

/**
 * The energy E = scale·Σ_p −log p(x_p) of `n` points (SoA [d][n] f32 at `x`) and its exact
 * gradient dE/dθ for the discretized solver, written to `gradOut` ([paramCount] f32; the lane sums
 * are multiplied by `scale` in f32 at the end). When `logpOut` ≠ 0 it also receives every log p
 * ([n] f64). The sum over points is taken in f64 in point order. `scratch` holds
 * loglik_scratch_bytes(desc, solver, steps, 1) bytes, 16-byte aligned. Returns E; a non-finite E
 * comes back as such (the gradient is then meaningless).
 */
export function loglik_energy_grad(
  params: usize,
  desc: usize,
  x: usize,
  n: i32,
  solver: i32,
  steps: i32,
  scale: f64,
  gradOut: usize,
  logpOut: usize,
  scratch: usize,
): f64 {
  layout(desc, solver, steps, true, scratch);
  const d = descDim(desc);
  const K = descFreq(desc);
  const P = paramCount(desc);
  const S = stageCount(solver);
  const sb = stageBytes(desc);
  const h = -1.0 / <f64>steps;
  const row = d * LL_BLOCK;
  const rowBytes = <usize>row << 2;
  memory.fill(sGacc, 0, <usize>P << 4);
  let sum: f64 = 0;
  for (let start = 0; start < n; start += LL_BLOCK) {
    const nb = min(LL_BLOCK, n - start);
    loadBlock(x, n, start, nb, d);
    integrateBlock(params, desc, solver, steps, true);
    for (let p = 0; p < nb; p++) {
      const lp = blockLogp(d, p);
      sum -= lp;
      if (logpOut != 0) store<f64>(logpOut + (<usize>(start + p) << 3), lp);
    }
    // adjoints of E/scale: ∂/∂z(0) = z(0), ∂/∂ℓ(0) = −1; zero on padded points
    for (let p = 0; p < LL_BLOCK; p++) store<f32>(sMask + (<usize>p << 2), p < nb ? <f32>-1.0 : <f32>0.0);
    for (let j = 0; j < d; j++) {
      const yr = sY + <usize>j * LBB;
      const br = sYbar + <usize>j * LBB;
      for (let k: usize = 0; k < LBB; k += 16) {
        v128.store(br + k, f32x4.mul(v128.load(yr + k), f32x4.neg(v128.load(sMask + k))));
      }
    }
    for (let s = steps - 1; s >= 0; s--) {
      const t0 = 1.0 - <f64>s / <f64>steps;
      memory.copy(sYsum, sYbar, rowBytes);
      for (let k = S - 1; k >= 0; k--) {
        const stage = sCache + <usize>(s * S + k) * sb;
        const hb = <f32>(h * tabB(solver, k));
        // v̄_k = h·b_k·ȳ' + h·a_{k+1}·ȳ_{k+1}
        if (k == S - 1) {
          for (let k2: usize = 0; k2 < rowBytes; k2 += 16) {
            v128.store(sVbar + k2, f32x4.mul(f32x4.splat(hb), v128.load(sYbar + k2)));
          }
        } else {
          const ha = <f32>(h * tabA(solver, k + 1));
          for (let k2: usize = 0; k2 < rowBytes; k2 += 16) {
            const a = f32x4.mul(f32x4.splat(hb), v128.load(sYbar + k2));
            v128.store(sVbar + k2, madd(f32x4.splat(ha), v128.load(sYbarK + k2), a));
          }
        }
        for (let k2: usize = 0; k2 < LBB; k2 += 16) {
          v128.store(sDbar + k2, f32x4.mul(f32x4.splat(hb), v128.load(sMask + k2)));
        }
        writeStageFeatures(K, t0 + tabC(solver, k) * h, sFeat);
        stageBackward(params, desc, stage);
        axpyRows(sYsum, sYsum, 1.0, sYbarK, row);
      }
      memory.copy(sYbar, sYsum, rowBytes);
    }
  }
  gradReduce(sGacc, P, gradOut, <f32>scale);
  return scale * sum;
}
