/**
 * Generation with onnxruntime-node: the vector field exported to ONNX by the project's exporter
 * (shared/model/onnx.ts, the files a run stores), RK4 on the host with one
 * `session.run` per solver stage on a batch of points, one intra-op thread. This is what a user
 * of a general ONNX runtime would write; `npm run bench` compares the WASM kernel against it.
 */
import * as ort from 'onnxruntime-node'
import { exportOnnx } from '../shared/model/onnx.ts'
import type { Mlp } from '../shared/model/spec.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A loaded session and the buffers for integrating `batch` points at a time. */
export class OrtGenerator {
  readonly dim: number
  readonly batch: number
  private readonly session: ort.InferenceSession
  private readonly tBuf: Float32Array
  private readonly xs: Float32Array
  private readonly sum: Float32Array
  private readonly tTensor: ort.Tensor
  private readonly xTensor: ort.Tensor

  private constructor(session: ort.InferenceSession, dim: number, batch: number) {
    this.session = session
    this.dim = dim
    this.batch = batch
    this.tBuf = new Float32Array(batch)
    this.xs = new Float32Array(batch * dim)
    this.sum = new Float32Array(batch * dim)
    this.tTensor = new ort.Tensor('float32', this.tBuf, [batch])
    this.xTensor = new ort.Tensor('float32', this.xs, [batch, dim])
  }

  // -------------------------------------------------------------------------------------
  // constructors
  // -------------------------------------------------------------------------------------

  /** A session on `m` exported to ONNX, one thread, all graph optimizations. */
  static async create(m: Mlp, batch: number): Promise<OrtGenerator> {
    const session = await ort.InferenceSession.create(exportOnnx(m), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    })
    return new OrtGenerator(session, m.spec.dim, batch)
  }

  // -------------------------------------------------------------------------------------
  // kernels
  // -------------------------------------------------------------------------------------

  /** v(t, xs) for the whole batch. */
  private async field(t: number): Promise<Float32Array> {
    this.tBuf.fill(t)
    const out = await this.session.run({ t: this.tTensor, x: this.xTensor })
    return out.v.data as Float32Array
  }

  /**
   * Integrates the row-major points `x` ([n, d], n a multiple of the batch size) in place from
   * t0 to t1 with `steps` fixed RK4 steps, the same update as the WASM kernel and the plain loop.
   * Returns the number of `session.run` calls.
   */
  async integrate(x: Float32Array, n: number, steps: number, t0 = 0, t1 = 1): Promise<number> {
    const B = this.batch
    const size = B * this.dim
    if (n % B !== 0) throw new RangeError(`ort generation: ${n} points is not a multiple of the batch size ${B}`)
    const { xs, sum } = this
    const h = (t1 - t0) / steps
    let runs = 0
    for (let b = 0; b < n; b += B) {
      const y = x.subarray(b * this.dim, b * this.dim + size)
      for (let s = 0; s < steps; s++) {
        const t = t0 + s * h
        xs.set(y)
        let k = await this.field(t)
        for (let i = 0; i < size; i++) {
          sum[i] = k[i]
          xs[i] = y[i] + 0.5 * h * k[i]
        }
        k = await this.field(t + 0.5 * h)
        for (let i = 0; i < size; i++) {
          sum[i] += 2 * k[i]
          xs[i] = y[i] + 0.5 * h * k[i]
        }
        k = await this.field(t + 0.5 * h)
        for (let i = 0; i < size; i++) {
          sum[i] += 2 * k[i]
          xs[i] = y[i] + h * k[i]
        }
        k = await this.field(t + h)
        for (let i = 0; i < size; i++) y[i] += (h / 6) * (sum[i] + k[i])
        runs += 4
      }
    }
    return runs
  }

  async release(): Promise<void> {
    await this.session.release()
  }
}
