/**
 * Evaluating an ONNX vector field with onnxruntime-node (CPU): the path for graphs outside the MLP
 * family, and the independent check of the WASM kernel for graphs inside it.
 */
import * as ort from 'onnxruntime-node'
import { type OnnxInterface, readInterface } from './onnx.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface OrtOptions {
  /** Intra-op threads of the session (default 1: the pipeline parallelizes across processes). */
  readonly intraOpThreads?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** An onnxruntime session over a file with the vector-field interface `t`, `x` → `v`. */
export class OrtField {
  /** Data dimension `d`. */
  readonly dim: number
  /** The file's name, for messages. */
  readonly name: string
  readonly #session: ort.InferenceSession
  readonly #iface: OnnxInterface

  private constructor(name: string, session: ort.InferenceSession, iface: OnnxInterface) {
    this.name = name
    this.dim = iface.dim
    this.#session = session
    this.#iface = iface
  }

  /**
   * Checks the interface (throwing an error that names `name` and the problem) and opens a session,
   * sequential, with `intraOpThreads` threads (default 1).
   */
  static async create(bytes: Uint8Array, name: string, opts: OrtOptions = {}): Promise<OrtField> {
    const iface = readInterface(bytes, name)
    const threads = opts.intraOpThreads ?? 1
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`${name}: intraOpThreads must be a positive integer, got ${threads}`)
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      })
    } catch (e) {
      throw new Error(`${name}: onnxruntime cannot load the model (${e instanceof Error ? e.message : e})`)
    }
    return new OrtField(name, session, iface)
  }

  /**
   * `v(t, x)` for the rows of `x` (row-major `[n, d]`); `t` is one time for all rows or one per row.
   * Returns row-major `[n, d]`. `t` is fed as `[n]` or `[n, 1]`, as the model declares it.
   */
  async evaluate(t: number | Float32Array, x: Float32Array): Promise<Float32Array> {
    const d = this.dim
    if (x.length % d !== 0) throw new RangeError(`${this.name}: x has ${x.length} values, not a multiple of d = ${d}`)
    const n = x.length / d
    const times = typeof t === 'number' ? new Float32Array(n).fill(t) : t
    if (times.length !== n) throw new RangeError(`${this.name}: t has ${times.length} values for ${n} rows of x`)
    if (n === 0) return new Float32Array(0)
    const feeds = {
      t: new ort.Tensor('float32', times, this.#iface.t === 'vector' ? [n] : [n, 1]),
      x: new ort.Tensor('float32', x, [n, d]),
    }
    const out = (await this.#session.run(feeds))[this.#iface.output]
    if (out === undefined || out.type !== 'float32' || out.data.length !== n * d)
      throw new Error(
        `${this.name}: onnxruntime returned ${out ? `${out.type} [${out.dims}]` : 'no output'}, expected float32 [${n}, ${d}]`,
      )
    return out.data as Float32Array
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release()
  }
}
