// The matrix products of a dense layer over a block of columns (points, or a log-likelihood
// block's points and tangents), shared by the training kernels (backprop.ts, vib.ts: rows a block's
// ROW bytes apart) and the log-likelihood kernels (loglik.ts: rows of its stage records).
//
// Layout: W row-major [out][in] f32, b [out]; an activation array is one row per neuron, `nc`
// columns (a multiple of 16) of f32, consecutive rows `xs`, `zs`, `dzs`, … bytes apart. Gradients
// are lane-form accumulators (backprop.ts): 16 bytes per parameter, lane k summing the columns
// ≡ k (mod 4) in column order, so every accumulator's sum is the same whatever the tiling.
//
// Every function is @inline with the row strides as arguments: where a caller passes constants
// (backprop.ts's ROW) the compiler folds `row + stride` into the loads' and stores' offsets, which
// is what the training kernels' speed relies on; loglik.ts's runtime strides cost one add a row.

import { madd } from "./vmath";

/**
 * z[o][c] = Σ_i W[o][i]·x[i][c], plus b[o] on the first `nbias` columns (a multiple of 16; the
 * rest start from 0), for `nc` columns. Tiles of 2 outputs × 16 columns (8 accumulators), the loop
 * over inputs innermost, stepping the input pointer against its end (weights broadcast by
 * load32_splat); an odd last output alone.
 */
// @ts-ignore: decorator
@inline export function denseForwardRows(
  W: usize,
  b: usize,
  x: usize,
  xs: usize,
  z: usize,
  zs: usize,
  nIn: i32,
  nOut: i32,
  nc: i32,
  nbias: i32,
): void {
  const rowW = <usize>nIn << 2;
  const end = <usize>nc << 2;
  const bend = <usize>nbias << 2;
  const span = <usize>nIn * xs;
  const zero = f32x4.splat(0);
  let o = 0;
  for (; o + 2 <= nOut; o += 2) {
    const w0 = W + <usize>o * rowW;
    const b0 = v128.load32_splat(b + (<usize>o << 2));
    const b1 = v128.load32_splat(b + (<usize>o << 2), 4);
    const z0 = z + <usize>o * zs;
    for (let k: usize = 0; k < end; k += 64) {
      const i0 = k < bend ? b0 : zero;
      const i1 = k < bend ? b1 : zero;
      let a00 = i0, a01 = i0, a02 = i0, a03 = i0;
      let a10 = i1, a11 = i1, a12 = i1, a13 = i1;
      let wp = w0;
      for (let xp = x + k, xe = xp + span; xp < xe; xp += xs) {
        const x0 = v128.load(xp);
        const x1 = v128.load(xp, 16);
        const x2 = v128.load(xp, 32);
        const x3 = v128.load(xp, 48);
        const c0 = v128.load32_splat(wp);
        const c1 = v128.load32_splat(wp + rowW);
        a00 = madd(c0, x0, a00);
        a01 = madd(c0, x1, a01);
        a02 = madd(c0, x2, a02);
        a03 = madd(c0, x3, a03);
        a10 = madd(c1, x0, a10);
        a11 = madd(c1, x1, a11);
        a12 = madd(c1, x2, a12);
        a13 = madd(c1, x3, a13);
        wp += 4;
      }
      const zp = z0 + k;
      v128.store(zp, a00);
      v128.store(zp, a01, 16);
      v128.store(zp, a02, 32);
      v128.store(zp, a03, 48);
      v128.store(zp + zs, a10);
      v128.store(zp + zs, a11, 16);
      v128.store(zp + zs, a12, 32);
      v128.store(zp + zs, a13, 48);
    }
  }
  if (o < nOut) {
    const w0 = W + <usize>o * rowW;
    const b0 = v128.load32_splat(b + (<usize>o << 2));
    const z0 = z + <usize>o * zs;
    for (let k: usize = 0; k < end; k += 64) {
      const i0 = k < bend ? b0 : zero;
      let a00 = i0, a01 = i0, a02 = i0, a03 = i0;
      let wp = w0;
      for (let xp = x + k, xe = xp + span; xp < xe; xp += xs) {
        const c0 = v128.load32_splat(wp);
        a00 = madd(c0, v128.load(xp), a00);
        a01 = madd(c0, v128.load(xp, 16), a01);
        a02 = madd(c0, v128.load(xp, 32), a02);
        a03 = madd(c0, v128.load(xp, 48), a03);
        wp += 4;
      }
      const zp = z0 + k;
      v128.store(zp, a00);
      v128.store(zp, a01, 16);
      v128.store(zp, a02, 32);
      v128.store(zp, a03, 48);
    }
  }
}

/**
 * dx[i][c] = Σ_o W[o][i]·dz[o][c], times g[i][c] when `g` ≠ 0 (dL/dh into dL/dz of the layer
 * below), for `nc` columns. Tiles of 2 inputs × 16 columns, the loop over outputs innermost,
 * stepping the dz pointer against its end; an odd last input 16 bytes at a time.
 */
// @ts-ignore: decorator
@inline export function denseBackwardRows(
  W: usize,
  dz: usize,
  dzs: usize,
  g: usize,
  gs: usize,
  dx: usize,
  dxs: usize,
  nIn: i32,
  nOut: i32,
  nc: i32,
): void {
  const rowW = <usize>nIn << 2;
  const end = <usize>nc << 2;
  const span = <usize>nOut * dzs;
  let i = 0;
  for (; i + 2 <= nIn; i += 2) {
    const wc = W + (<usize>i << 2);
    for (let k: usize = 0; k < end; k += 64) {
      let a00 = f32x4.splat(0), a01 = a00, a02 = a00, a03 = a00;
      let a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      let wp = wc;
      for (let dp = dz + k, de = dp + span; dp < de; dp += dzs) {
        const e0 = v128.load(dp);
        const e1 = v128.load(dp, 16);
        const e2 = v128.load(dp, 32);
        const e3 = v128.load(dp, 48);
        const c0 = v128.load32_splat(wp);
        const c1 = v128.load32_splat(wp, 4);
        a00 = madd(c0, e0, a00);
        a01 = madd(c0, e1, a01);
        a02 = madd(c0, e2, a02);
        a03 = madd(c0, e3, a03);
        a10 = madd(c1, e0, a10);
        a11 = madd(c1, e1, a11);
        a12 = madd(c1, e2, a12);
        a13 = madd(c1, e3, a13);
        wp += rowW;
      }
      if (g != 0) {
        const gp = g + <usize>i * gs + k;
        a00 = f32x4.mul(a00, v128.load(gp));
        a01 = f32x4.mul(a01, v128.load(gp, 16));
        a02 = f32x4.mul(a02, v128.load(gp, 32));
        a03 = f32x4.mul(a03, v128.load(gp, 48));
        a10 = f32x4.mul(a10, v128.load(gp + gs));
        a11 = f32x4.mul(a11, v128.load(gp + gs, 16));
        a12 = f32x4.mul(a12, v128.load(gp + gs, 32));
        a13 = f32x4.mul(a13, v128.load(gp + gs, 48));
      }
      const xp = dx + <usize>i * dxs + k;
      v128.store(xp, a00);
      v128.store(xp, a01, 16);
      v128.store(xp, a02, 32);
      v128.store(xp, a03, 48);
      v128.store(xp + dxs, a10);
      v128.store(xp + dxs, a11, 16);
      v128.store(xp + dxs, a12, 32);
      v128.store(xp + dxs, a13, 48);
    }
  }
  if (i < nIn) {
    for (let k: usize = 0; k < end; k += 16) {
      let a = f32x4.splat(0);
      let wp = W + (<usize>i << 2);
      for (let dp = dz + k, de = dp + span; dp < de; dp += dzs) {
        a = madd(v128.load32_splat(wp), v128.load(dp), a);
        wp += rowW;
      }
      if (g != 0) a = f32x4.mul(a, v128.load(g + <usize>i * gs + k));
      v128.store(dx + <usize>i * dxs + k, a);
    }
  }
}

/**
 * Lane-form weight gradient: gW[o][i] += Σ_c dz[o][c]·x[i][c] over `nc` columns (`gW` 16 bytes
 * per parameter). Tiles of 2 outputs × 4 inputs (8 accumulators), the loop over columns innermost;
 * the inputs beyond the last multiple of 4 four outputs at a time (four independent chains: one
 * alone waits out the madd latency at every step), an odd last output 4 inputs at a time.
 */
// @ts-ignore: decorator
@inline export function denseWeightGradRows(
  dz: usize,
  dzs: usize,
  x: usize,
  xs: usize,
  gW: usize,
  nIn: i32,
  nOut: i32,
  nc: i32,
): void {
  const end = <usize>nc << 2;
  const rowG = <usize>nIn << 4;
  const in4 = nIn & ~3;
  let o = 0;
  for (; o + 2 <= nOut; o += 2) {
    const d0 = dz + <usize>o * dzs;
    const g0 = gW + <usize>o * rowG;
    const g1 = g0 + rowG;
    for (let i = 0; i < in4; i += 4) {
      const gi0 = g0 + (<usize>i << 4);
      const gi1 = g1 + (<usize>i << 4);
      let a00 = v128.load(gi0), a01 = v128.load(gi0, 16), a02 = v128.load(gi0, 32), a03 = v128.load(gi0, 48);
      let a10 = v128.load(gi1), a11 = v128.load(gi1, 16), a12 = v128.load(gi1, 32), a13 = v128.load(gi1, 48);
      // one pointer over dz row o, one over x row i; the other rows a stride away
      let xp = x + <usize>i * xs;
      for (let dp = d0, de = d0 + end; dp < de; dp += 16) {
        const e0 = v128.load(dp);
        const e1 = v128.load(dp + dzs);
        const xa = v128.load(xp);
        const xb = v128.load(xp + xs);
        const xc = v128.load(xp + 2 * xs);
        const xd = v128.load(xp + 3 * xs);
        a00 = madd(e0, xa, a00);
        a01 = madd(e0, xb, a01);
        a02 = madd(e0, xc, a02);
        a03 = madd(e0, xd, a03);
        a10 = madd(e1, xa, a10);
        a11 = madd(e1, xb, a11);
        a12 = madd(e1, xc, a12);
        a13 = madd(e1, xd, a13);
        xp += 16;
      }
      v128.store(gi0, a00);
      v128.store(gi0, a01, 16);
      v128.store(gi0, a02, 32);
      v128.store(gi0, a03, 48);
      v128.store(gi1, a10);
      v128.store(gi1, a11, 16);
      v128.store(gi1, a12, 32);
      v128.store(gi1, a13, 48);
    }
  }
  for (let i = in4; i < nIn; i++) {
    const xr = x + <usize>i * xs;
    let oo = 0;
    for (; oo + 4 <= o; oo += 4) {
      const gp = gW + <usize>oo * rowG + (<usize>i << 4);
      let a0 = v128.load(gp), a1 = v128.load(gp + rowG), a2 = v128.load(gp + 2 * rowG), a3 = v128.load(gp + 3 * rowG);
      let xp = xr;
      for (let dp = dz + <usize>oo * dzs, de = dp + end; dp < de; dp += 16) {
        const xv = v128.load(xp);
        a0 = madd(v128.load(dp), xv, a0);
        a1 = madd(v128.load(dp + dzs), xv, a1);
        a2 = madd(v128.load(dp + 2 * dzs), xv, a2);
        a3 = madd(v128.load(dp + 3 * dzs), xv, a3);
        xp += 16;
      }
      v128.store(gp, a0);
      v128.store(gp + rowG, a1);
      v128.store(gp + 2 * rowG, a2);
      v128.store(gp + 3 * rowG, a3);
    }
    for (; oo < o; oo++) accChain(dz + <usize>oo * dzs, xr, gW + <usize>oo * rowG + (<usize>i << 4), end);
  }
  if (o < nOut) {
    const dr = dz + <usize>o * dzs;
    const g0 = gW + <usize>o * rowG;
    let i = 0;
    for (; i + 4 <= nIn; i += 4) {
      const gp = g0 + (<usize>i << 4);
      let a0 = v128.load(gp), a1 = v128.load(gp, 16), a2 = v128.load(gp, 32), a3 = v128.load(gp, 48);
      let xp = x + <usize>i * xs;
      for (let dp = dr, de = dr + end; dp < de; dp += 16) {
        const e = v128.load(dp);
        a0 = madd(e, v128.load(xp), a0);
        a1 = madd(e, v128.load(xp + xs), a1);
        a2 = madd(e, v128.load(xp + 2 * xs), a2);
        a3 = madd(e, v128.load(xp + 3 * xs), a3);
        xp += 16;
      }
      v128.store(gp, a0);
      v128.store(gp, a1, 16);
      v128.store(gp, a2, 32);
      v128.store(gp, a3, 48);
    }
    for (; i < nIn; i++) accChain(dr, x + <usize>i * xs, g0 + (<usize>i << 4), end);
  }
}

/** Lane-form bias gradient: gb[o] += Σ_c dz[o][c] over `nc` columns, four outputs at a time. */
// @ts-ignore: decorator
@inline export function denseBiasGradRows(dz: usize, dzs: usize, gb: usize, nOut: i32, nc: i32): void {
  const end = <usize>nc << 2;
  let o = 0;
  for (; o + 4 <= nOut; o += 4) {
    const gp = gb + (<usize>o << 4);
    let a0 = v128.load(gp), a1 = v128.load(gp, 16), a2 = v128.load(gp, 32), a3 = v128.load(gp, 48);
    for (let dp = dz + <usize>o * dzs, de = dp + end; dp < de; dp += 16) {
      a0 = f32x4.add(a0, v128.load(dp));
      a1 = f32x4.add(a1, v128.load(dp + dzs));
      a2 = f32x4.add(a2, v128.load(dp + 2 * dzs));
      a3 = f32x4.add(a3, v128.load(dp + 3 * dzs));
    }
    v128.store(gp, a0);
    v128.store(gp, a1, 16);
    v128.store(gp, a2, 32);
    v128.store(gp, a3, 48);
  }
  for (; o < nOut; o++) {
    const gp = gb + (<usize>o << 4);
    let a = v128.load(gp);
    for (let dp = dz + <usize>o * dzs, de = dp + end; dp < de; dp += 16) a = f32x4.add(a, v128.load(dp));
    v128.store(gp, a);
  }
}

/** acc += Σ over `end` bytes of row `dr` times row `xr`, lane form (one chain). */
function accChain(dr: usize, xr: usize, gp: usize, end: usize): void {
  let a = v128.load(gp);
  for (let k: usize = 0; k < end; k += 16) a = madd(v128.load(dr + k), v128.load(xr + k), a);
  v128.store(gp, a);
}
