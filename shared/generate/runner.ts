/**
 * The work of one chunk of a generation, on the WASM core: draw the chunk's latent points,
 * integrate them from t = 0 to t = 1 through the vector field, bin them into every quantile grid.
 * One `ChunkRunner` lives in each worker (or in the main thread when no workers are used).
 */
import { Binner, type GridSpec } from '../core/binning.ts'
import { WasmField } from '../core/field.ts'
import { integratePtr } from '../core/ode.ts'
import { normalsPtr } from '../core/rng.ts'
import { type Core } from '../core/wasm.ts'
import { radialEdges } from '../data/gamma-ring.ts'
import type { Mlp } from '../model/spec.ts'
import { type Chunk, type GenerationPlan, gridLimits } from './plan.ts'

export interface ChunkResult {
  readonly index: number
  readonly evaluations: number
  readonly steps: number
  readonly rejected: number
  /** The generated points, row-major [size, 2], when the caller keeps them. */
  readonly points?: Float32Array
}

/** The Gamma-ring quantile grids of a plan: exact radial quantiles, prefix-rule limits. */
export const ringGrids = (plan: GenerationPlan): GridSpec[] => {
  const limits = gridLimits(plan)
  return plan.grids.map((n, b) => ({ n, radialEdges: radialEdges(n), limit: limits[b] }))
}

export class ChunkRunner {
  private readonly field: WasmField
  private readonly binner: Binner
  private readonly state: number
  private readonly d: number

  constructor(
    readonly core: Core,
    model: Mlp,
    readonly plan: GenerationPlan,
    private readonly keepPoints: boolean,
  ) {
    this.d = model.spec.dim
    if (this.d !== 2) throw new RangeError(`generation bins the 2-D Gamma ring; the model has dimension ${this.d}`)
    this.field = new WasmField(core, model)
    this.binner = new Binner(core, ringGrids(plan))
    this.state = core.allocF32(plan.chunkSize * this.d)
  }

  run(chunk: Chunk): ChunkResult {
    const { core, plan } = this
    const n = chunk.size

    // z ~ N(0, 1): point i of the chunk is point chunk.start + i of the plan's stream.
    normalsPtr(core, { seed: plan.seed, stream: plan.stream }, chunk.start, n, this.d, this.state)

    // x(1) = z + ∫₀¹ v(t, x) dt
    const stats = core.scoped(() => integratePtr(this.field, this.state, n, plan.solver, 0, 1))

    this.binner.accumulatePtr(this.state, n, chunk.start)

    let points: Float32Array | undefined
    if (this.keepPoints) {
      const soa = core.f32(this.state, n * this.d)
      points = new Float32Array(n * this.d)
      for (let i = 0; i < n; i++) for (let j = 0; j < this.d; j++) points[i * this.d + j] = soa[j * n + i]
    }
    // evaluations are counted per point: a batch evaluation of n points counts n.
    return { index: chunk.index, evaluations: stats.evaluations * n, steps: stats.steps, rejected: stats.rejected, points }
  }

  counts(): Float64Array[] {
    return this.binner.counts()
  }

  invalid(): number[] {
    return this.binner.invalid()
  }
}
