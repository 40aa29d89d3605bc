/**
 * Plain TypeScript reference of the counter-based generator (wasm/assembly/rng.ts), used only by
 * the tests. The 32×32→64-bit products use BigInt so that nothing is shared with the kernel's u64
 * arithmetic.
 */

// -------------------------------------------------------------------------------------
// Philox4x32-10
// -------------------------------------------------------------------------------------

const M0 = 0xd2511f53n
const M1 = 0xcd9e8d57n
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

/** Philox4x32-10 of `counter` under key `(seed, stream)`, as four unsigned 32-bit integers. */
export const philox = (
  seed: number,
  stream: number,
  counter: readonly [number, number, number, number],
): [number, number, number, number] => {
  let [c0, c1, c2, c3] = counter.map((c) => c >>> 0)
  let k0 = seed >>> 0
  let k1 = stream >>> 0
  for (let round = 0; round < 10; round++) {
    const p0 = M0 * BigInt(c0)
    const p1 = M1 * BigInt(c2)
    const hi0 = Number(p0 >> 32n)
    const lo0 = Number(p0 & 0xffffffffn)
    const hi1 = Number(p1 >> 32n)
    const lo1 = Number(p1 & 0xffffffffn)
    ;[c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0]
    k0 = (k0 + W0) >>> 0
    k1 = (k1 + W1) >>> 0
  }
  return [c0, c1, c2, c3]
}

// -------------------------------------------------------------------------------------
// derived variates
// -------------------------------------------------------------------------------------

/** The block serving dimensions 2j, 2j+1 of point i. */
const block = (seed: number, stream: number, i: number, j: number) =>
  philox(seed, stream, [i % 2 ** 32, Math.floor(i / 2 ** 32), j, 0])

/** (a + ½)/2^52 with a = hi·2^20 + ⌊lo/2^12⌋. */
const u52 = (hi: number, lo: number): number => (hi * 2 ** 20 + Math.floor(lo / 2 ** 12) + 0.5) / 2 ** 52

/** f64 uniform, dimension `dim` of point `i`. */
export const uniformF64 = (seed: number, stream: number, i: number, dim: number): number => {
  const x = block(seed, stream, i, dim >> 1)
  return dim % 2 === 0 ? u52(x[0], x[1]) : u52(x[2], x[3])
}

/** f32 uniform, dimension `dim` of point `i`. */
export const uniformF32 = (seed: number, stream: number, i: number, dim: number): number => {
  const x = block(seed, stream, i, dim >> 1)
  return (Math.floor(x[dim % 2 === 0 ? 0 : 2] / 2 ** 9) + 0.5) / 2 ** 23
}

/** Standard normal (Box–Muller in f64, rounded to f32), dimension `dim` of point `i`. */
export const normal = (seed: number, stream: number, i: number, dim: number): number => {
  const j = dim >> 1
  const rho = Math.sqrt(-2 * Math.log(uniformF64(seed, stream, i, 2 * j)))
  const theta = 2 * Math.PI * uniformF64(seed, stream, i, 2 * j + 1)
  return Math.fround(dim % 2 === 0 ? rho * Math.cos(theta) : rho * Math.sin(theta))
}
