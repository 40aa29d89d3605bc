/**
 * Loading the compute core (wasm/assembly, compiled by wasm/build.js) and moving arrays in and out
 * of its linear memory.
 *
 * Two binaries are built from one source: `simd` (WebAssembly SIMD, runs on Node.js 20) and
 * `relaxed` (adds relaxed-SIMD fused multiply-add; Node.js 22 and the Lambda nodejs22.x runtime
 * validate it, Node.js 20 only with --experimental-wasm-relaxed-simd). `auto` takes `relaxed`
 * when the runtime validates it. Fused and unfused arithmetic round differently, so every output
 * records the variant that produced it.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Variant = 'simd' | 'relaxed'

/** The raw exports of the core; kernels take byte offsets into `memory`. */
export interface CoreExports {
  readonly memory: WebAssembly.Memory
  arenaAlloc(bytes: number): number
  arenaMark(): number
  arenaReset(mark: number): void
  readonly [kernel: string]: unknown
}

// -------------------------------------------------------------------------------------
// variant detection
// -------------------------------------------------------------------------------------

/**
 * A minimal module whose one function computes `f32x4.relaxed_madd` (opcode 0xfd 0x105): it
 * validates exactly when the runtime supports relaxed SIMD.
 */
const relaxedProbeModule = (): Uint8Array<ArrayBuffer> => {
  const zero = new Array<number>(16).fill(0)
  const body = [
    0x00, // no locals
    0xfd, 0x0c, ...zero, // v128.const
    0xfd, 0x0c, ...zero, // v128.const
    0xfd, 0x0c, ...zero, // v128.const
    0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0x105, LEB128)
    0x0b, // end
  ]
  const code = [0x01, body.length, ...body]
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
    0x03, 0x02, 0x01, 0x00,
    0x0a, code.length, ...code,
  ])
}
let relaxedSupport: boolean | undefined

/** Whether this runtime validates relaxed-SIMD instructions. */
export const relaxedSimdSupported = (): boolean => {
  if (relaxedSupport === undefined) relaxedSupport = WebAssembly.validate(relaxedProbeModule())
  return relaxedSupport
}

/**
 * Turns relaxed SIMD on where the runtime has it behind a flag (Node.js 20, whose V8 carries the
 * implementation that Node.js 22 enables by default), so that `auto` takes the fused core there
 * too: a local run then computes with the variant of the training container and the Lambda
 * functions (Node.js 22). V8's flags are process-wide, so worker threads started afterwards see
 * it. Call it before the first core is compiled (the CLI does, at start). Returns whether relaxed
 * SIMD is now supported.
 */
export const enableRelaxedSimd = (): boolean => {
  if (relaxedSimdSupported()) return true
  setFlagsFromString('--experimental-wasm-relaxed-simd')
  relaxedSupport = undefined
  return relaxedSimdSupported()
}

/** Resolves `auto` to the variant this runtime runs best. */
export const resolveVariant = (v: Variant | 'auto' = 'auto'): Variant => {
  if (v === 'auto') return relaxedSimdSupported() ? 'relaxed' : 'simd'
  if (v === 'relaxed' && !relaxedSimdSupported())
    throw new Error(
      'the relaxed-SIMD core was requested but this runtime does not support relaxed SIMD ' +
        '(Node.js 22+, or Node.js 20 with --experimental-wasm-relaxed-simd)',
    )
  return v
}

// -------------------------------------------------------------------------------------
// loading
// -------------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))

/** Where the built binaries live; overridable for bundles (Lambda) that ship them elsewhere. */
export const wasmPath = (variant: Variant): string =>
  join(process.env.BAYESAMP_WASM_DIR ?? join(here, '..', '..', 'wasm', 'build'), `core.${variant}.wasm`)

const modules = new Map<Variant, WebAssembly.Module>()

const compiled = (variant: Variant): WebAssembly.Module => {
  let m = modules.get(variant)
  if (m === undefined) {
    let bytes: Uint8Array<ArrayBuffer>
    try {
      bytes = new Uint8Array(readFileSync(wasmPath(variant)))
    } catch (e) {
      throw new Error(`cannot read the ${variant} core at ${wasmPath(variant)} (run npm run build): ${String(e)}`)
    }
    m = new WebAssembly.Module(bytes)
    modules.set(variant, m)
  }
  return m
}

/**
 * One instance of the core: its own linear memory and arena. Typed-array views are made fresh on
 * every call, since growing memory detaches the old buffer.
 */
export class Core {
  readonly variant: Variant
  readonly exports: CoreExports

  constructor(variant: Variant | 'auto' = 'auto') {
    this.variant = resolveVariant(variant)
    const instance = new WebAssembly.Instance(compiled(this.variant), {
      env: {
        abort: (_msg: number, _file: number, line: number, col: number) => {
          throw new Error(`wasm abort at ${line}:${col}`)
        },
      },
    })
    this.exports = instance.exports as unknown as CoreExports
  }

  /** A kernel by name, typed by the caller. */
  fn<F extends (...args: never[]) => unknown>(name: string): F {
    const f = this.exports[name]
    if (typeof f !== 'function') throw new Error(`the ${this.variant} core has no export '${name}'`)
    return f as F
  }

  /** Allocates `bytes` bytes (16-byte aligned) and returns the offset. */
  alloc(bytes: number): number {
    const p = this.exports.arenaAlloc(bytes)
    if (p === 0 && bytes > 0) throw new RangeError(`wasm memory exhausted allocating ${bytes} bytes`)
    return p
  }

  allocF32(n: number): number {
    return this.alloc(4 * n)
  }

  allocF64(n: number): number {
    return this.alloc(8 * n)
  }

  allocU32(n: number): number {
    return this.alloc(4 * n)
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, ptr, n)
  }

  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, ptr, n)
  }

  u32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.exports.memory.buffer, ptr, n)
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, ptr, n)
  }

  /** Copies `src` into fresh memory and returns its offset. */
  putF32(src: ArrayLike<number>): number {
    const p = this.allocF32(src.length)
    this.f32(p, src.length).set(src)
    return p
  }

  putF64(src: ArrayLike<number>): number {
    const p = this.allocF64(src.length)
    this.f64(p, src.length).set(src)
    return p
  }

  putI32(src: ArrayLike<number>): number {
    const p = this.alloc(4 * src.length)
    this.i32(p, src.length).set(src)
    return p
  }

  /** Runs `f` and frees everything it allocated, even when it throws. */
  scoped<A>(f: () => A): A {
    const mark = this.exports.arenaMark()
    try {
      return f()
    } finally {
      this.exports.arenaReset(mark)
    }
  }
}

const shared = new Map<Variant, Core>()

/** The process's (or worker's) shared instance of a variant. */
export const core = (variant: Variant | 'auto' = 'auto'): Core => {
  const v = resolveVariant(variant)
  let c = shared.get(v)
  if (c === undefined) {
    c = new Core(v)
    shared.set(v, c)
  }
  return c
}
