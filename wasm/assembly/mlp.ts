// The vector field v(t, x; θ): a batched f32 MLP on WebAssembly SIMD, points in lanes.
//
// Model in memory
//   params  f32, the canonical layout of shared/model/spec.ts: layer by layer, W row-major
//           [out, in] then b [out], like torch nn.Linear. Input features of layer 1, in order:
//           [t, cos πt, sin πt, …, cos Kπt, sin Kπt, x₁ … x_d].
//   desc    i32 descriptor: [d, K, H, activation, w₁ … w_H] (H hidden widths). Activation codes:
//           0 ELU (α = 1), 1 SiLU, 2 tanh, 3 ReLU.
//
// Layout of a block
//   Points are processed in blocks of BLOCK = 128 (measured on the paper model: 2 % faster than 64,
//   5–9 % faster than 256, whose two 32-row buffers outgrow a 32 KiB L1). Inside a block every
//   activation lives in a
//   scratch buffer laid out [neuron][BLOCK] (stride BLOCK floats), so one v128 holds one neuron of
//   4 points. A dense layer is tiled 2 neurons × 4 point-groups (16 points): 8 accumulators, the
//   weights broadcast with v128.load32_splat, the inner product a short runtime loop over the
//   inputs (not unrolled: V8 would hoist every load and spill). A block's point count is padded
//   up to a multiple of 16 (TILE); padded lanes hold zeros and are never written back.
//   The activation is a separate pass over the layer's block buffer, four independent vectors per
//   iteration; applying it to the 8 accumulators inside the tile measured ~20 % slower on the
//   baseline build (8 accumulators plus the exp constants exceed V8's 15 usable v128 registers).
//
// Shared time
//   When every point of a block shares t (the fused ODE solvers, `fieldShared`), the time
//   features are folded into an effective first-layer bias, computed once per (block, stage):
//     b̃₁[o] = b₁[o] + W₁[o,0]·t + Σₖ (W₁[o,2k−1]·cos kπt + W₁[o,2k]·sin kπt)   (f64 sum, stored f32)
//   and layer 1 then only multiplies the d state columns of W₁. `fieldPerPoint` (each point its own
//   t) builds the full feature rows instead and runs layer 1 over all 1 + 2K + d columns.
//
// Fused multiply-add
//   The relaxed build (ASC_FEATURE_RELAXED_SIMD) uses f32x4.relaxed_madd; the baseline uses mul
//   then add. Both accumulate in f32.
//
// Activations and the SIMD expm1
//   Every activation reduces to expm1 or exp on x ≤ 0 (vmath.ts): ELU(x) = max(x, expm1(min(x, 0)))
//   with ELU's own expm1 (one range-reduction step, a degree-5 polynomial for 2^f, within 2.5e-7
//   absolute: vmath.ts, eluK);
//   SiLU(x) = x·σ(x) with q = e^{−|x|} (`expv`, same reduction), σ(|x|) = 1/(1+q), σ(−|x|) = q/(1+q);
//   tanh|x| = −expm1(−2|x|) / (2 + expm1(−2|x|)), sign restored; ReLU(x) = max(x, 0).

import {
  K_C2, K_C3, K_C4, K_C5, K_C6, K_E1, K_E2, K_E3, K_E4, K_E5, K_LN2_HI, K_LN2_LO, K_LOG2E, K_MAGIC,
  K_MINUS_ONE, K_ONE, K_X_MIN, eluK, eluv, expCoreK, expm1v, expv, k, madd, storeLanes,
} from "./vmath";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Points per block: the scratch row stride, in floats. */
export const BLOCK: i32 = 128;
/** Points per tile (4 groups of 4 lanes); a block's point count is padded to a multiple of it. */
export const TILE: i32 = 16;

export const ACT_ELU: i32 = 0;
export const ACT_SILU: i32 = 1;
export const ACT_TANH: i32 = 2;
export const ACT_RELU: i32 = 3;

const ROW: usize = <usize>BLOCK << 2; // bytes of one scratch row

@inline function descDim(desc: usize): i32 {
  return load<i32>(desc);
}
@inline function descK(desc: usize): i32 {
  return load<i32>(desc, 4);
}
@inline function descH(desc: usize): i32 {
  return load<i32>(desc, 8);
}
@inline function descAct(desc: usize): i32 {
  return load<i32>(desc, 12);
}
@inline function descWidth(desc: usize, l: i32): i32 {
  return load<i32>(desc + 16 + (<usize>l << 2));
}

/** Width of the input layer, 1 + 2K + d. */
@inline function inputWidth(desc: usize): i32 {
  return 1 + 2 * descK(desc) + descDim(desc);
}

/** The widest hidden layer. */
function maxHidden(desc: usize): i32 {
  let m = 0;
  for (let l = 0, H = descH(desc); l < H; l++) m = max(m, descWidth(desc, l));
  return m;
}

@inline function roundUp(n: usize, to: usize): usize {
  return (n + to - 1) / to * to;
}

// Workspace of a field evaluation (byte offsets from its start, each 16-aligned):
//   bias   b̃₁, w₁ floats
//   feat   the 1 + 2K time features, f64
//   bufA   [maxHidden][BLOCK] floats
//   bufB   [maxHidden][BLOCK] floats
//   inp    [1 + 2K + d][BLOCK] floats: the features of `fieldPerPoint`, or the x block
//   outb   [d][BLOCK] floats
@inline function wsFeat(desc: usize): usize {
  return roundUp(<usize>descWidth(desc, 0) << 2, 16);
}
@inline function wsBufA(desc: usize): usize {
  return wsFeat(desc) + roundUp(<usize>(1 + 2 * descK(desc)) << 3, 16);
}
@inline function wsBufB(desc: usize): usize {
  return wsBufA(desc) + <usize>maxHidden(desc) * ROW;
}
@inline function wsInp(desc: usize): usize {
  return wsBufB(desc) + <usize>maxHidden(desc) * ROW;
}
@inline function wsOut(desc: usize): usize {
  return wsInp(desc) + <usize>inputWidth(desc) * ROW;
}

/** Bytes of workspace that `fieldShared`, `fieldPerPoint` and the ODE solvers' field calls need. */
export function fieldWorkspaceBytes(desc: usize): usize {
  return wsOut(desc) + <usize>descDim(desc) * ROW;
}

/** Number of f32 parameters the descriptor implies: Σ (in + 1)·out over the layers. */
export function fieldParameterCount(desc: usize): i32 {
  let prev = inputWidth(desc);
  let n = 0;
  for (let l = 0, H = descH(desc); l < H; l++) {
    const w = descWidth(desc, l);
    n += (prev + 1) * w;
    prev = w;
  }
  return n + (prev + 1) * descDim(desc);
}

// -------------------------------------------------------------------------------------
// activations
// -------------------------------------------------------------------------------------

/**
 * Applies activation `act` to four lanes, with the exp constants of vmath.ts passed in (loaded once
 * before a loop, see `expCoreK`). Every other constant is built from them or from zero, which V8
 * materializes with one xor: a v128.const costs three instructions at each use.
 */
@inline function activate4K(
  act: i32, z: v128,
  log2e: v128, ln2Hi: v128, ln2Lo: v128, magic: v128,
  c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, xMin: v128, one: v128,
): v128 {
  const zero = f32x4.splat(0.0);
  if (act == ACT_ELU) {
    return eluv(z); // tests only: eluRows passes its constants to eluK
  } else if (act == ACT_SILU) {
    const q = expCoreK(f32x4.neg(f32x4.abs(z)), false, true, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, xMin, one); // e^{−|z|}
    const num = v128.bitselect(one, q, f32x4.ge(z, zero));
    return f32x4.div(f32x4.mul(z, num), f32x4.add(q, one));
  } else if (act == ACT_TANH) {
    const a = f32x4.abs(z);
    const e = expCoreK(f32x4.neg(f32x4.add(a, a)), true, true, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, xMin, one);
    const y = f32x4.div(f32x4.neg(e), f32x4.add(f32x4.add(e, one), one)); // e + 1 is exact (Sterbenz)
    return v128.or(y, v128.xor(z, a)); // z xor |z| is z's sign bit
  } else {
    return f32x4.pmax(z, zero);
  }
}

/** Applies activation `act` to four lanes (the constants read from the exp table). */
@inline function activate4(act: i32, z: v128): v128 {
  return activate4K(act, z, k(K_LOG2E), k(K_LN2_HI), k(K_LN2_LO), k(K_MAGIC),
    k(K_C2), k(K_C3), k(K_C4), k(K_C5), k(K_C6), k(K_X_MIN), k(K_ONE));
}

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * out[o][p] = b[o] + Σᵢ W[o, i]·inp[i][p] for o < nOut, p < np (a multiple of TILE); `w` points at
 * W[0, 0] of a row-major matrix with `rowStride` floats per row, `inp`/`out` rows have stride
 * BLOCK.
 */
function dense(w: usize, rowStride: i32, b: usize, inp: usize, nIn: i32, out: usize, nOut: i32, np: i32): void {
  const wRow = <usize>rowStride << 2;
  let o = 0;
  // tiles of 2 neurons × 16 points: 8 independent accumulators
  for (; o + 2 <= nOut; o += 2) {
    const w0 = w + <usize>o * wRow;
    const b0 = v128.load32_splat(b + (<usize>o << 2));
    const b1 = v128.load32_splat(b + (<usize>o << 2), 4);
    const out0 = out + <usize>o * ROW;
    for (let p = 0; p < np; p += TILE) {
      let a0 = b0, a1 = b0, a2 = b0, a3 = b0;
      let c0 = b1, c1 = b1, c2 = b1, c3 = b1;
      let h = inp + (<usize>p << 2);
      let wp = w0;
      for (const hEnd = h + <usize>nIn * ROW; h < hEnd; ) {
        const h0 = v128.load(h);
        const h1 = v128.load(h, 16);
        const h2 = v128.load(h, 32);
        const h3 = v128.load(h, 48);
        const u = v128.load32_splat(wp);
        const v = v128.load32_splat(wp + wRow);
        a0 = madd(u, h0, a0);
        a1 = madd(u, h1, a1);
        a2 = madd(u, h2, a2);
        a3 = madd(u, h3, a3);
        c0 = madd(v, h0, c0);
        c1 = madd(v, h1, c1);
        c2 = madd(v, h2, c2);
        c3 = madd(v, h3, c3);
        h += ROW;
        wp += 4;
      }
      const q = out0 + (<usize>p << 2);
      v128.store(q, a0);
      v128.store(q, a1, 16);
      v128.store(q, a2, 32);
      v128.store(q, a3, 48);
      v128.store(q + ROW, c0);
      v128.store(q + ROW, c1, 16);
      v128.store(q + ROW, c2, 32);
      v128.store(q + ROW, c3, 48);
    }
  }
  // the last neuron of an odd width: 1 × 16 points
  if (o < nOut) {
    const w0 = w + <usize>o * wRow;
    const b0 = v128.load32_splat(b + (<usize>o << 2));
    const out0 = out + <usize>o * ROW;
    for (let p = 0; p < np; p += TILE) {
      let a0 = b0, a1 = b0, a2 = b0, a3 = b0;
      let h = inp + (<usize>p << 2);
      let wp = w0;
      for (const hEnd = h + <usize>nIn * ROW; h < hEnd; ) {
        const u = v128.load32_splat(wp);
        a0 = madd(u, v128.load(h), a0);
        a1 = madd(u, v128.load(h, 16), a1);
        a2 = madd(u, v128.load(h, 32), a2);
        a3 = madd(u, v128.load(h, 48), a3);
        h += ROW;
        wp += 4;
      }
      const q = out0 + (<usize>p << 2);
      v128.store(q, a0);
      v128.store(q, a1, 16);
      v128.store(q, a2, 32);
      v128.store(q, a3, 48);
    }
  }
}

/**
 * Applies activation `act` (a compile-time constant at each call) in place to rows [0, rows) ×
 * points [0, np) of a block buffer, four independent vectors per iteration so that their
 * latency-bound exp chains overlap; the exp constants are loaded once, before the loop.
 */
@inline function activateRowsOf(act: i32, buf: usize, rows: i32, np: i32): void {
  const log2e = k(K_LOG2E), ln2Hi = k(K_LN2_HI), ln2Lo = k(K_LN2_LO), magic = k(K_MAGIC);
  const c2 = k(K_C2), c3 = k(K_C3), c4 = k(K_C4), c5 = k(K_C5), c6 = k(K_C6);
  const xMin = k(K_X_MIN), one = k(K_ONE);
  const len = <usize>np << 2;
  for (let row = buf, end = buf + <usize>rows * ROW; row < end; row += ROW) {
    for (let q = row, e = row + len; q < e; q += <usize>TILE << 2) {
      const z0 = v128.load(q);
      const z1 = v128.load(q, 16);
      const z2 = v128.load(q, 32);
      const z3 = v128.load(q, 48);
      v128.store(q, activate4K(act, z0, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, one));
      v128.store(q, activate4K(act, z1, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, one), 16);
      v128.store(q, activate4K(act, z2, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, one), 32);
      v128.store(q, activate4K(act, z3, log2e, ln2Hi, ln2Lo, magic, c2, c3, c4, c5, c6, xMin, one), 48);
    }
  }
}

// One function per activation: each loop in its own function is what V8 compiles best (measured:
// four inlined loops in one function ran ~10 % slower).
function eluRows(buf: usize, rows: i32, np: i32): void {
  const log2e = k(K_LOG2E), magic = k(K_MAGIC), xMin = k(K_X_MIN), one = k(K_ONE), minusOne = k(K_MINUS_ONE);
  const e1 = k(K_E1), e2 = k(K_E2), e3 = k(K_E3), e4 = k(K_E4), e5 = k(K_E5);
  const len = <usize>np << 2;
  for (let row = buf, end = buf + <usize>rows * ROW; row < end; row += ROW) {
    for (let q = row, e = row + len; q < e; q += <usize>TILE << 2) {
      const z0 = v128.load(q);
      const z1 = v128.load(q, 16);
      const z2 = v128.load(q, 32);
      const z3 = v128.load(q, 48);
      v128.store(q, eluK(z0, log2e, magic, xMin, one, minusOne, e1, e2, e3, e4, e5));
      v128.store(q, eluK(z1, log2e, magic, xMin, one, minusOne, e1, e2, e3, e4, e5), 16);
      v128.store(q, eluK(z2, log2e, magic, xMin, one, minusOne, e1, e2, e3, e4, e5), 32);
      v128.store(q, eluK(z3, log2e, magic, xMin, one, minusOne, e1, e2, e3, e4, e5), 48);
    }
  }
}
function siluRows(buf: usize, rows: i32, np: i32): void {
  activateRowsOf(ACT_SILU, buf, rows, np);
}
function tanhRows(buf: usize, rows: i32, np: i32): void {
  activateRowsOf(ACT_TANH, buf, rows, np);
}
function reluRows(buf: usize, rows: i32, np: i32): void {
  activateRowsOf(ACT_RELU, buf, rows, np);
}

/** Applies the activation in place to rows [0, rows) × points [0, np) of a block buffer. */
function activateRows(act: i32, buf: usize, rows: i32, np: i32): void {
  if (act == ACT_ELU) eluRows(buf, rows, np);
  else if (act == ACT_SILU) siluRows(buf, rows, np);
  else if (act == ACT_TANH) tanhRows(buf, rows, np);
  else reluRows(buf, rows, np);
}

/**
 * Runs the network on one block of np points (a multiple of TILE): layer 1 as given (its weights
 * `w1` with row stride 1 + 2K + d, bias `b1`, input rows `in1` × nIn1), then the hidden layers and
 * the linear output into `out` ([d][BLOCK]).
 */
function forwardBlock(desc: usize, params: usize, w1: usize, b1: usize, in1: usize, nIn1: i32, out: usize, np: i32, ws: usize): void {
  const d = descDim(desc);
  const H = descH(desc);
  const act = descAct(desc);
  let a = ws + wsBufA(desc);
  let b = ws + wsBufB(desc);
  let prev = descWidth(desc, 0);
  let inW = inputWidth(desc);
  dense(w1, inW, b1, in1, nIn1, a, prev, np);
  activateRows(act, a, prev, np);
  let off = <usize>(prev * inW + prev); // floats
  for (let l = 1; l < H; l++) {
    const w = descWidth(desc, l);
    const W = params + (off << 2);
    dense(W, prev, W + (<usize>(w * prev) << 2), a, prev, b, w, np);
    activateRows(act, b, w, np);
    off += <usize>(w * prev + w);
    const s = a;
    a = b;
    b = s;
    prev = w;
  }
  const W = params + (off << 2);
  dense(W, prev, W + (<usize>(d * prev) << 2), a, prev, out, d, np);
}

/** Computes the 1 + 2K time features of t into the workspace (f64). */
function timeFeatures(desc: usize, t: f64, ws: usize): void {
  const feat = ws + wsFeat(desc);
  store<f64>(feat, t);
  for (let k = 1, K = descK(desc); k <= K; k++) {
    const a = <f64>k * Math.PI * t;
    store<f64>(feat + (<usize>(2 * k - 1) << 3), Math.cos(a));
    store<f64>(feat + (<usize>(2 * k) << 3), Math.sin(a));
  }
}

/** Folds the time features of t into the effective first-layer bias b̃₁ (see the header). */
export function timeBias(desc: usize, params: usize, t: f64, ws: usize): void {
  timeFeatures(desc, t, ws);
  const feat = ws + wsFeat(desc);
  const nT = 1 + 2 * descK(desc);
  const inW = inputWidth(desc);
  const w1 = descWidth(desc, 0);
  const b = params + (<usize>(w1 * inW) << 2);
  for (let o = 0; o < w1; o++) {
    const row = params + (<usize>(o * inW) << 2);
    let s = <f64>load<f32>(b + (<usize>o << 2));
    for (let c = 0; c < nT; c++) s += <f64>load<f32>(row + (<usize>c << 2)) * load<f64>(feat + (<usize>c << 3));
    store<f32>(ws + (<usize>o << 2), <f32>s);
  }
}

/**
 * v(t, ·) on one block whose time bias `timeBias(desc, params, t, ws)` is already in the
 * workspace: x and out are [d][BLOCK] blocks, np a multiple of TILE.
 */
export function fieldBlock(desc: usize, params: usize, x: usize, out: usize, np: i32, ws: usize): void {
  const w1 = params + (<usize>(1 + 2 * descK(desc)) << 2); // W₁[:, x columns]
  forwardBlock(desc, params, w1, ws, x, descDim(desc), out, np, ws);
}

/** Points of a block rounded up to whole tiles. */
@inline export function paddedCount(m: i32): i32 {
  return (m + TILE - 1) & ~(TILE - 1);
}

/**
 * Copies m points of `rows` SoA rows (row stride `stride` floats) starting at point i0 into a
 * [rows][BLOCK] block, zeroing the padding up to the next whole tile.
 */
export function gatherBlock(src: usize, stride: i32, i0: i32, m: i32, rows: i32, dst: usize): void {
  const np = paddedCount(m);
  for (let j = 0; j < rows; j++) {
    const s = src + (<usize>(j * stride + i0) << 2);
    const q = dst + <usize>j * ROW;
    memory.copy(q, s, <usize>m << 2);
    memory.fill(q + (<usize>m << 2), 0, <usize>(np - m) << 2);
  }
}

/** Copies m points of a [rows][BLOCK] block back to SoA rows (row stride `stride`) at point i0. */
export function scatterBlock(src: usize, rows: i32, m: i32, dst: usize, stride: i32, i0: i32): void {
  for (let j = 0; j < rows; j++) memory.copy(dst + (<usize>(j * stride + i0) << 2), src + <usize>j * ROW, <usize>m << 2);
}

/**
 * v(t, x) for n points that share t. x and out are SoA ([d][n]: x₁ of every point, then x₂, …);
 * ws is `fieldWorkspaceBytes(desc)` bytes. out may alias x.
 */
export function fieldShared(desc: usize, params: usize, t: f64, x: usize, n: i32, out: usize, ws: usize): void {
  const d = descDim(desc);
  const xb = ws + wsInp(desc);
  const ob = ws + wsOut(desc);
  timeBias(desc, params, t, ws);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const m = min(BLOCK, n - i0);
    gatherBlock(x, n, i0, m, d, xb);
    fieldBlock(desc, params, xb, ob, paddedCount(m), ws);
    scatterBlock(ob, d, m, out, n, i0);
  }
}

/**
 * v(tᵢ, xᵢ) for n points, each with its own time: t is f64[n], x and out SoA [d][n]; ws is
 * `fieldWorkspaceBytes(desc)` bytes. out may alias x.
 */
export function fieldPerPoint(desc: usize, params: usize, t: usize, x: usize, n: i32, out: usize, ws: usize): void {
  const d = descDim(desc);
  const K = descK(desc);
  const nT = 1 + 2 * K;
  const fb = ws + wsInp(desc);
  const ob = ws + wsOut(desc);
  const b1 = params + (<usize>(descWidth(desc, 0) * inputWidth(desc)) << 2);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const m = min(BLOCK, n - i0);
    const np = paddedCount(m);
    for (let p = 0; p < np; p++) {
      const ti = p < m ? load<f64>(t + (<usize>(i0 + p) << 3)) : 0.0;
      store<f32>(fb + (<usize>p << 2), <f32>ti);
      for (let k = 1; k <= K; k++) {
        const a = <f64>k * Math.PI * ti;
        store<f32>(fb + <usize>(2 * k - 1) * ROW + (<usize>p << 2), <f32>Math.cos(a));
        store<f32>(fb + <usize>(2 * k) * ROW + (<usize>p << 2), <f32>Math.sin(a));
      }
    }
    gatherBlock(x, n, i0, m, d, fb + <usize>nT * ROW);
    forwardBlock(desc, params, params, b1, fb, nT + d, ob, np, ws);
    scatterBlock(ob, d, m, out, n, i0);
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Loads up to 4 floats (n ≥ 1), zero-filling the missing lanes. */
@inline function loadTail(p: usize, n: i32): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** dst[i] = expm1(src[i]) by the SIMD approximation, for tests (any n ≥ 0). */
export function vexpm1(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), expm1v(v128.load(src + (<usize>i << 2))));
  if (i < n) storeLanes(dst + (<usize>i << 2), expm1v(loadTail(src + (<usize>i << 2), n - i)), n - i);
}

/** dst[i] = exp(src[i]) by the SIMD approximation, for tests (any n ≥ 0). */
export function vexp(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), expv(v128.load(src + (<usize>i << 2))));
  if (i < n) storeLanes(dst + (<usize>i << 2), expv(loadTail(src + (<usize>i << 2), n - i)), n - i);
}

/** dst[i] = act(src[i]) by the SIMD activations, for tests (any n ≥ 0). */
export function vactivate(act: i32, src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), activate4(act, v128.load(src + (<usize>i << 2))));
  if (i < n) storeLanes(dst + (<usize>i << 2), activate4(act, loadTail(src + (<usize>i << 2), n - i)), n - i);
}
