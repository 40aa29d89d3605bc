// Polar quantile binning: points to (r, φ), then counts in many n×n grids in one pass.
//
// ## Method
//
//   r := sqrt(x² + y²),  φ := atan2(y, x), plus 2π when negative       (f64, from the f32 inputs)
//   radial bin   jr := #{ k : e_k ≤ r }  over the n−1 increasing interior edges e_k (binary search),
//                      so bins are right-open [e_k, e_{k+1}); the first and last are open-ended
//   angular bin  jφ := ⌊(φ·n) / 2π⌋, clamped to n−1 (a φ that rounds to 2π joins the last bin)
//   bin          jr·n + jφ
//
// A point whose x or y is NaN or ±∞ is counted in the grid's `invalid` slot instead, never dropped.
// Prefix rule: grid b counts only the points of global index < limit_b, so that a single pass over
// one sample serves every grid (grid b sees the first limit_b points).
//
// Counts are f64, exact up to 2^53 per bin.
//
// ## Grid table (host-written, BIN_GRID_WORDS f64 per grid)
//
//   [0] n            [1] edges offset (n−1 f64)   [2] counts offset (n² f64)
//   [3] limit        [4] invalid count            [5…7] unused
//
// Kernels never allocate and never throw; the host validates the table.

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/** f64 words per grid in the grid table. */
export const BIN_GRID_WORDS: i32 = 8;

const TILE: i32 = 256; // points whose (r, φ) are computed once, then binned into every grid
const TWO_PI: f64 = reinterpret<f64>(0x401921fb54442d18); // 6.283185307179586

// Scratch for one tile of r and φ, in the static data segment.
const tileR: usize = memory.data(TILE << 3, 16);
const tilePhi: usize = memory.data(TILE << 3, 16);

// -------------------------------------------------------------------------------------
// kernels
// -------------------------------------------------------------------------------------

/**
 * Bins `count` points, structure-of-arrays f32 (x at `xPtr`, y at `yPtr`), whose global indices are
 * globalStart … globalStart + count − 1, into the `gridCount` grids of the table at `tablePtr`
 * (layout in the module header), adding to their counts and invalid slots.
 */
export function binPolarAccumulate(
  xPtr: usize,
  yPtr: usize,
  count: i32,
  globalStart: f64,
  gridCount: i32,
  tablePtr: usize,
): void {
  if (count <= 0 || gridCount <= 0) return;

  // the furthest point any grid still counts
  let needed: i32 = 0;
  for (let g = 0; g < gridCount; g++) {
    const row = tablePtr + (<usize>(g * BIN_GRID_WORDS) << 3);
    const m = localLimit(load<f64>(row, 24), globalStart, count);
    if (m > needed) needed = m;
  }

  for (let tileStart = 0; tileStart < needed; tileStart += TILE) {
    const m = min(TILE, needed - tileStart);

    // r := sqrt(x² + y²), φ := atan2(y, x) ∈ [0, 2π]; r := NaN marks a non-finite point
    for (let k = 0; k < m; k++) {
      const offset = <usize>(tileStart + k) << 2;
      const x = <f64>load<f32>(xPtr + offset);
      const y = <f64>load<f32>(yPtr + offset);
      let r = NaN;
      let phi = 0.0;
      if (isFinite<f64>(x) && isFinite<f64>(y)) {
        r = Math.sqrt(x * x + y * y);
        phi = Math.atan2(y, x);
        if (phi < 0) phi += TWO_PI;
      }
      store<f64>(tileR + (<usize>k << 3), r);
      store<f64>(tilePhi + (<usize>k << 3), phi);
    }

    for (let g = 0; g < gridCount; g++) {
      const row = tablePtr + (<usize>(g * BIN_GRID_WORDS) << 3);
      const n = <i32>load<f64>(row);
      const edges = <usize>load<f64>(row, 8);
      const counts = <usize>load<f64>(row, 16);
      const upto = min(m, localLimit(load<f64>(row, 24), globalStart, count) - tileStart);
      const nf = <f64>n;
      let invalid = 0.0;
      for (let k = 0; k < upto; k++) {
        const r = load<f64>(tileR + (<usize>k << 3));
        if (isNaN<f64>(r)) {
          invalid += 1.0;
          continue;
        }

        // jr := #{e ≤ r}: the first edge index whose edge exceeds r, by bisection over [0, n−1]
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (load<f64>(edges + (<usize>mid << 3)) <= r) lo = mid + 1;
          else hi = mid;
        }

        // jφ := ⌊φ·n / 2π⌋ clamped to n − 1
        let jphi = <i32>Math.floor((load<f64>(tilePhi + (<usize>k << 3)) * nf) / TWO_PI);
        if (jphi > n - 1) jphi = n - 1;

        const bin = counts + (<usize>(lo * n + jphi) << 3);
        store<f64>(bin, load<f64>(bin) + 1.0);
      }
      if (upto > 0) store<f64>(row, load<f64>(row, 32) + invalid, 32);
    }
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

// Points of this call below a grid's limit: clamp(limit − globalStart, 0, count).
// @ts-ignore: decorator
@inline
function localLimit(limit: f64, globalStart: f64, count: i32): i32 {
  const m = limit - globalStart;
  if (m <= 0) return 0;
  if (m >= <f64>count) return count;
  return <i32>m;
}
