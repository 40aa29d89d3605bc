/**
 * Seeded random numbers for the statistics tests only (sfc32, a small-state chaotic generator with
 * a counter; independent of the library's own generator), normal draws by Box–Muller.
 */
export const sfc32 = (seed: number): (() => number) => {
  let a = 0x9e3779b9
  let b = 0x243f6a88
  let c = 0xb7e15162
  let d = seed >>> 0
  const next = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return ((t >>> 0) + 0.5) / 4294967296
  }
  for (let i = 0; i < 16; i++) next()
  return next
}

export const normal = (u: () => number): (() => number) => () =>
  Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
