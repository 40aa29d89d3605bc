import { describe, expect, it } from 'vitest'
import { Core, relaxedSimdSupported, resolveVariant } from '../shared/core/wasm.ts'

describe('wasm', () => {
  // -------------------------------------------------------------------------------------
  // loading
  // -------------------------------------------------------------------------------------

  it('resolveVariant', () => {
    expect(resolveVariant('simd')).toBe('simd')
    expect(resolveVariant('auto')).toBe(relaxedSimdSupported() ? 'relaxed' : 'simd')
  })

  it('refuses the relaxed core where the runtime cannot run it', () => {
    if (relaxedSimdSupported()) expect(new Core('relaxed').variant).toBe('relaxed')
    else expect(() => new Core('relaxed')).toThrow(/relaxed SIMD/)
  })

  // -------------------------------------------------------------------------------------
  // arena
  // -------------------------------------------------------------------------------------

  it('alloc returns aligned, disjoint buffers and grows memory', () => {
    const c = new Core('simd')
    const a = c.alloc(3)
    const b = c.alloc(40 << 20) // past the initial 1 MiB
    expect(a % 16).toBe(0)
    expect(b % 16).toBe(0)
    expect(b).toBeGreaterThanOrEqual(a + 3)
    c.f32(b, 10 << 20).fill(1)
    expect(c.exports.memory.buffer.byteLength).toBeGreaterThanOrEqual(b + (40 << 20))
  })

  it('scoped frees what it allocated', () => {
    const c = new Core('simd')
    const before = c.exports.arenaMark()
    c.scoped(() => c.alloc(1000))
    expect(c.exports.arenaMark()).toBe(before)
  })
})
