// Fused ODE integrators for dx/dt = v(t, x; θ), the MLP field of ./mlp.ts, over a batch of n
// points in SoA layout ([d][n]: x₁ of every point, then x₂, …), integrated in place from t0 to t1
// (t1 < t0 integrates backwards). State and stages are f32; times and step sizes f64.
//
// Fixed steps (odeFixed): Euler (order 1), explicit midpoint (order 2), classic RK4 (order 4).
// The batch is cut into blocks of BLOCK points, blocks outside and steps inside, so a block's
// state and stage buffers stay in L1 for the whole integration; all points of a block share every
// stage time, so the time features fold into the first-layer bias (mlp.ts, timeBias).
//
// Adaptive (odeDopri5): Dormand–Prince 5(4) with first-same-as-last, one step size for the whole
// batch. Error norm of a step: the maximum over points of the per-point RMS over the d dimensions
// of errᵢ / (atol + rtol·max(|xᵢ|, |x_newᵢ|)); a point whose error is NaN or infinite is skipped,
// so a diverging point cannot stall the batch (it ends non-finite). Controller: accept when the
// norm is ≤ 1; the next step is h·min(10, max(0.2, 0.9·err^(−1/5))), never growing after a
// rejection. Initial step: Hairer, Nørsett & Wanner (1993), II.4, per point, the batch taking the
// smallest. Every attempted step (accepted or rejected) counts against maxSteps.
//
// Stats (i32[3] at `stats`): field evaluations of the batch (each evaluates every point),
// accepted steps, rejected steps. Return codes: ODE_OK, ODE_MAX_STEPS (state holds the last
// accepted point, at a time short of t1).

import {
  BLOCK,
  fieldBlock,
  fieldWorkspaceBytes,
  gatherBlock,
  paddedCount,
  scatterBlock,
  timeBias,
} from "./mlp";
import { madd } from "./vmath";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export const SOLVER_EULER: i32 = 0;
export const SOLVER_MIDPOINT: i32 = 1;
export const SOLVER_RK4: i32 = 2;

export const ODE_OK: i32 = 0;
export const ODE_MAX_STEPS: i32 = 1;

const ROW: usize = <usize>BLOCK << 2; // bytes of one block row

/** Block buffers ([d][BLOCK] f32) the fixed-step solvers use: x, stage input, stage, accumulator. */
const FIXED_BLOCKS: usize = 4;
/** Block buffers of dopri5: x, k1 … k7, stage input / x_new. */
const DOPRI_BLOCKS: usize = 9;

/**
 * Bytes of workspace for integrating n points: the field's workspace, the block buffers, and for
 * dopri5 (adaptive ≠ 0) three SoA arrays of n points (x_new, k1, k7).
 */
export function odeWorkspaceBytes(desc: usize, n: i32, adaptive: i32): usize {
  const d = <usize>load<i32>(desc);
  const blocks = adaptive != 0 ? DOPRI_BLOCKS : FIXED_BLOCKS;
  let bytes = fieldWorkspaceBytes(desc) + blocks * d * ROW;
  if (adaptive != 0) bytes += 3 * soaBytes(d, n);
  return bytes;
}

@inline function soaBytes(d: usize, n: i32): usize {
  return (d * <usize>n * 4 + 15) & ~15;
}

// -------------------------------------------------------------------------------------
// block arithmetic
// -------------------------------------------------------------------------------------

/**
 * dst = base + h·Σ cᵢ·kᵢ over the [rows][BLOCK] blocks, points [0, np); base = 0 means none.
 * Unused terms pass c = 0 (their k is still read, so it must be a valid block).
 */
function lincomb(
  dst: usize, base: usize, rows: i32, np: i32, h: f64,
  k1: usize, c1: f64, k2: usize, c2: f64, k3: usize, c3: f64,
  k4: usize, c4: f64, k5: usize, c5: f64, k6: usize, c6: f64,
): void {
  const a1 = f32x4.splat(<f32>(h * c1));
  const a2 = f32x4.splat(<f32>(h * c2));
  const a3 = f32x4.splat(<f32>(h * c3));
  const a4 = f32x4.splat(<f32>(h * c4));
  const a5 = f32x4.splat(<f32>(h * c5));
  const a6 = f32x4.splat(<f32>(h * c6));
  const len = <usize>rows * ROW;
  for (let r: usize = 0; r < len; r += ROW) {
    for (let q: usize = r, e: usize = r + (<usize>np << 2); q < e; q += 16) {
      let s = base != 0 ? v128.load(base + q) : f32x4.splat(0.0);
      s = madd(a1, v128.load(k1 + q), s);
      s = madd(a2, v128.load(k2 + q), s);
      s = madd(a3, v128.load(k3 + q), s);
      s = madd(a4, v128.load(k4 + q), s);
      s = madd(a5, v128.load(k5 + q), s);
      s = madd(a6, v128.load(k6 + q), s);
      v128.store(dst + q, s);
    }
  }
}

/** dst = base + h·k over [rows][BLOCK] blocks, points [0, np). */
function axpy(dst: usize, base: usize, rows: i32, np: i32, h: f64, k: usize): void {
  const a = f32x4.splat(<f32>h);
  const len = <usize>rows * ROW;
  for (let r: usize = 0; r < len; r += ROW) {
    for (let q: usize = r, e: usize = r + (<usize>np << 2); q < e; q += 16) {
      v128.store(dst + q, madd(a, v128.load(k + q), v128.load(base + q)));
    }
  }
}

/** v(t, x) on one block: folds t into the first-layer bias, then runs the network. */
@inline function evalAt(desc: usize, params: usize, ws: usize, t: f64, x: usize, out: usize, np: i32): void {
  timeBias(desc, params, t, ws);
  fieldBlock(desc, params, x, out, np, ws);
}

// -------------------------------------------------------------------------------------
// fixed step
// -------------------------------------------------------------------------------------

/**
 * Integrates n SoA points in place with `steps` equal steps of Euler, midpoint or RK4 (method
 * SOLVER_*); ws is `odeWorkspaceBytes(desc, n, 0)` bytes. Returns ODE_OK.
 */
export function odeFixed(
  desc: usize, params: usize, method: i32, steps: i32, t0: f64, t1: f64,
  state: usize, n: i32, ws: usize, stats: usize,
): i32 {
  const d = load<i32>(desc);
  const h = (t1 - t0) / <f64>steps;
  const x = ws + fieldWorkspaceBytes(desc);
  const xt = x + <usize>d * ROW;
  const k = xt + <usize>d * ROW;
  const acc = k + <usize>d * ROW;
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const m = min(BLOCK, n - i0);
    const np = paddedCount(m);
    gatherBlock(state, n, i0, m, d, x);
    for (let s = 0; s < steps; s++) {
      const t = t0 + <f64>s * h;
      if (method == SOLVER_EULER) {
        evalAt(desc, params, ws, t, x, k, np);
        axpy(x, x, d, np, h, k);
      } else if (method == SOLVER_MIDPOINT) {
        evalAt(desc, params, ws, t, x, k, np);
        axpy(xt, x, d, np, 0.5 * h, k);
        evalAt(desc, params, ws, t + 0.5 * h, xt, k, np);
        axpy(x, x, d, np, h, k);
      } else {
        // k₁ … k₄ of the classic RK4; acc gathers k₁ + 2k₂ + 2k₃
        evalAt(desc, params, ws, t, x, acc, np);
        axpy(xt, x, d, np, 0.5 * h, acc);
        evalAt(desc, params, ws, t + 0.5 * h, xt, k, np);
        axpy(acc, acc, d, np, 2.0, k);
        axpy(xt, x, d, np, 0.5 * h, k);
        evalAt(desc, params, ws, t + 0.5 * h, xt, k, np);
        axpy(acc, acc, d, np, 2.0, k);
        axpy(xt, x, d, np, h, k);
        evalAt(desc, params, ws, t + h, xt, k, np);
        axpy(acc, acc, d, np, 1.0, k);
        axpy(x, x, d, np, h / 6.0, acc);
      }
    }
    scatterBlock(x, d, m, state, n, i0);
  }
  const perStep = method == SOLVER_EULER ? 1 : method == SOLVER_MIDPOINT ? 2 : 4;
  store<i32>(stats, perStep * steps);
  store<i32>(stats, steps, 4);
  store<i32>(stats, 0, 8);
  return ODE_OK;
}

// -------------------------------------------------------------------------------------
// Dormand–Prince 5(4)
// -------------------------------------------------------------------------------------

// Butcher tableau (Dormand & Prince 1980): nodes c, stage weights a, 5th-order weights b (the
// last stage row, b₇ = 0) and e = b − b̂ against the embedded 4th-order weights b̂.
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const B1: f64 = 35.0 / 384.0;
const B3: f64 = 500.0 / 1113.0;
const B4: f64 = 125.0 / 192.0;
const B5: f64 = -2187.0 / 6784.0;
const B6: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;

/** RMS over the d rows of point p of a block, each value divided by its scale. */
@inline function scaledRms(v: usize, x: usize, xn: usize, d: i32, p: i32, rtol: f64, atol: f64, useXn: bool): f64 {
  let s: f64 = 0;
  for (let j = 0; j < d; j++) {
    const o = <usize>j * ROW + (<usize>p << 2);
    let mag = Math.abs(<f64>load<f32>(x + o));
    if (useXn) mag = Math.max(mag, Math.abs(<f64>load<f32>(xn + o)));
    const r = <f64>load<f32>(v + o) / (atol + rtol * mag);
    s += r * r;
  }
  return Math.sqrt(s / <f64>d);
}

@inline function isFinite64(v: f64): bool {
  return v - v == 0;
}

/**
 * Integrates n SoA points in place with adaptive Dormand–Prince 5(4); ws is
 * `odeWorkspaceBytes(desc, n, 1)` bytes. Returns ODE_OK or ODE_MAX_STEPS.
 */
export function odeDopri5(
  desc: usize, params: usize, rtol: f64, atol: f64, maxSteps: i32, t0: f64, t1: f64,
  state: usize, n: i32, ws: usize, stats: usize,
): i32 {
  const d = load<i32>(desc);
  const blk = <usize>d * ROW;
  const xb = ws + fieldWorkspaceBytes(desc);
  const k1 = xb + blk;
  const k2 = k1 + blk;
  const k3 = k2 + blk;
  const k4 = k3 + blk;
  const k5 = k4 + blk;
  const k6 = k5 + blk;
  const k7 = k6 + blk;
  const xt = k7 + blk;
  let xNew = xt + blk; // SoA [d][n]
  let k1All = xNew + soaBytes(d, n);
  let k7All = k1All + soaBytes(d, n);
  let evaluations = 0;
  let accepted = 0;
  let rejected = 0;
  let code = ODE_OK;

  const span = Math.abs(t1 - t0);
  const dir: f64 = t1 >= t0 ? 1.0 : -1.0;
  if (span > 0 && n > 0) {
    // initial step, pass 1: f₀ = v(t0, x₀), h₀ = 0.01·‖x₀‖/‖f₀‖ per point (1e-6 if either is tiny)
    let h0 = Infinity;
    for (let i0 = 0; i0 < n; i0 += BLOCK) {
      const m = min(BLOCK, n - i0);
      const np = paddedCount(m);
      gatherBlock(state, n, i0, m, d, xb);
      evalAt(desc, params, ws, t0, xb, k1, np);
      scatterBlock(k1, d, m, k1All, n, i0);
      for (let p = 0; p < m; p++) {
        const d0 = scaledRms(xb, xb, xb, d, p, rtol, atol, false);
        const d1 = scaledRms(k1, xb, xb, d, p, rtol, atol, false);
        const hp = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
        if (isFinite64(hp)) h0 = Math.min(h0, hp);
      }
    }
    if (!isFinite64(h0)) h0 = 1e-6;
    h0 = Math.min(h0, span);
    // pass 2: f₁ = v(t0 + h₀, x₀ + h₀f₀), d₂ = ‖f₁ − f₀‖/h₀,
    // h₁ = (0.01 / max(d₁, d₂))^(1/5), h = min(100·h₀, h₁)
    let h = Infinity;
    for (let i0 = 0; i0 < n; i0 += BLOCK) {
      const m = min(BLOCK, n - i0);
      const np = paddedCount(m);
      gatherBlock(state, n, i0, m, d, xb);
      gatherBlock(k1All, n, i0, m, d, k1);
      axpy(xt, xb, d, np, dir * h0, k1);
      evalAt(desc, params, ws, t0 + dir * h0, xt, k2, np);
      axpy(k3, k2, d, np, -1.0, k1);
      for (let p = 0; p < m; p++) {
        const d1 = scaledRms(k1, xb, xb, d, p, rtol, atol, false);
        const d2 = scaledRms(k3, xb, xb, d, p, rtol, atol, false) / h0;
        const big = Math.max(d1, d2);
        const h1 = big <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : Math.pow(0.01 / big, 0.2);
        const hp = Math.min(100.0 * h0, h1);
        if (isFinite64(hp)) h = Math.min(h, hp);
      }
    }
    evaluations = 2;
    if (!isFinite64(h)) h = h0;

    let t = t0;
    let x = state;
    let done = false;
    while (!done) {
      if (accepted + rejected >= maxSteps) {
        code = ODE_MAX_STEPS;
        break;
      }
      const rest = Math.abs(t1 - t);
      let last = false;
      if (h >= rest * (1.0 - 1e-9)) {
        h = rest;
        last = true;
      }
      const hs = dir * h;
      let err: f64 = 0;
      for (let i0 = 0; i0 < n; i0 += BLOCK) {
        const m = min(BLOCK, n - i0);
        const np = paddedCount(m);
        gatherBlock(x, n, i0, m, d, xb);
        gatherBlock(k1All, n, i0, m, d, k1);
        axpy(xt, xb, d, np, A21 * hs, k1);
        evalAt(desc, params, ws, t + C2 * hs, xt, k2, np);
        lincomb(xt, xb, d, np, hs, k1, A31, k2, A32, k1, 0, k1, 0, k1, 0, k1, 0);
        evalAt(desc, params, ws, t + C3 * hs, xt, k3, np);
        lincomb(xt, xb, d, np, hs, k1, A41, k2, A42, k3, A43, k1, 0, k1, 0, k1, 0);
        evalAt(desc, params, ws, t + C4 * hs, xt, k4, np);
        lincomb(xt, xb, d, np, hs, k1, A51, k2, A52, k3, A53, k4, A54, k1, 0, k1, 0);
        evalAt(desc, params, ws, t + C5 * hs, xt, k5, np);
        lincomb(xt, xb, d, np, hs, k1, A61, k2, A62, k3, A63, k4, A64, k5, A65, k1, 0);
        evalAt(desc, params, ws, t + hs, xt, k6, np);
        lincomb(xt, xb, d, np, hs, k1, B1, k3, B3, k4, B4, k5, B5, k6, B6, k1, 0); // x_new
        evalAt(desc, params, ws, t + hs, xt, k7, np);
        lincomb(k2, 0, d, np, hs, k1, E1, k3, E3, k4, E4, k5, E5, k6, E6, k7, E7); // error estimate
        for (let p = 0; p < m; p++) {
          const e = scaledRms(k2, xb, xt, d, p, rtol, atol, true);
          if (isFinite64(e)) err = Math.max(err, e);
        }
        scatterBlock(xt, d, m, xNew, n, i0);
        scatterBlock(k7, d, m, k7All, n, i0);
      }
      evaluations += 6;
      if (err <= 1.0) {
        accepted++;
        t = last ? t1 : t + hs;
        done = last;
        // first same as last: k₇ of this step is k₁ of the next
        const xs = x;
        x = xNew;
        xNew = xs;
        const ks = k1All;
        k1All = k7All;
        k7All = ks;
        h *= err == 0 ? FAC_MAX : Math.min(FAC_MAX, Math.max(FAC_MIN, SAFETY * Math.pow(err, -0.2)));
      } else {
        rejected++;
        h *= Math.max(FAC_MIN, SAFETY * Math.pow(err, -0.2));
      }
    }
    if (x != state) memory.copy(state, x, <usize>d * <usize>n * 4);
  }
  store<i32>(stats, evaluations);
  store<i32>(stats, accepted, 4);
  store<i32>(stats, rejected, 8);
  return code;
}
