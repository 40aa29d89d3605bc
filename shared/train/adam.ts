/**
 * Adam and AdamW (Kingma & Ba 2014; Loshchilov & Hutter 2019) over a flat f32 parameter vector in
 * the core's memory, in the form of PyTorch 1.13's `torch.optim.Adam` / `AdamW` (the kernel is
 * `adam_step` in wasm/assembly/train.ts). Adam's weight decay is an L2 term added to the gradient;
 * AdamW's shrinks the parameters by `1 − lr·λ` before the moment update.
 */
import type { Core } from '../core/wasm.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface OptimizerOptions {
  readonly kind: 'adam' | 'adamw'
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  /** λ: an L2 term for Adam, decoupled decay for AdamW. */
  readonly weightDecay: number
}

/** PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, weight decay 0 (Adam) or 0.01 (AdamW). */
export const optimizerDefaults = (kind: 'adam' | 'adamw' = 'adam'): OptimizerOptions => ({
  kind,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: kind === 'adamw' ? 0.01 : 0,
})

/** Checks optimizer settings, returning a message naming the offending field, or undefined. */
export const optimizerProblem = (o: OptimizerOptions, lr: number): string | undefined => {
  if (o.kind !== 'adam' && o.kind !== 'adamw') return `optimizer.kind must be 'adam' or 'adamw', got '${String(o.kind)}'`
  if (!(lr > 0) || !Number.isFinite(lr)) return `lr must be a positive number, got ${lr}`
  if (!(o.beta1 >= 0 && o.beta1 < 1)) return `optimizer.beta1 must lie in [0, 1), got ${o.beta1}`
  if (!(o.beta2 >= 0 && o.beta2 < 1)) return `optimizer.beta2 must lie in [0, 1), got ${o.beta2}`
  if (!(o.eps > 0) || !Number.isFinite(o.eps)) return `optimizer.eps must be a positive number, got ${o.eps}`
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay))
    return `optimizer.weightDecay must be a non-negative number, got ${o.weightDecay}`
  return undefined
}

// -------------------------------------------------------------------------------------
// optimizer
// -------------------------------------------------------------------------------------

type AdamKernel = (
  params: number,
  grad: number,
  m: number,
  v: number,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  decoupled: number,
  step: number,
) => void

/**
 * The state of Adam or AdamW for `n` parameters: first and second moments in the core's memory
 * (allocated at construction; they live as long as the arena below that point) and the step
 * count.
 */
export class Adam {
  readonly core: Core
  readonly n: number
  readonly options: OptimizerOptions
  lr: number
  /** Steps taken so far; the next update uses step + 1 in the bias corrections. */
  step = 0
  /** Offsets of the first and second moments, f32 [n] each. */
  readonly mPtr: number
  readonly vPtr: number
  private readonly kernel: AdamKernel

  constructor(core: Core, n: number, lr: number, options: OptimizerOptions = optimizerDefaults()) {
    const problem = optimizerProblem(options, lr)
    if (problem !== undefined) throw new RangeError(`invalid optimizer: ${problem}`)
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Adam needs a positive parameter count, got ${n}`)
    this.core = core
    this.n = n
    this.lr = lr
    this.options = options
    this.kernel = core.fn<AdamKernel>('adam_step')
    this.mPtr = core.allocF32(n)
    this.vPtr = core.allocF32(n)
    core.f32(this.mPtr, n).fill(0)
    core.f32(this.vPtr, n).fill(0)
  }

  /** One update of the parameters at `paramsPtr` from the gradient at `gradPtr` (f32 [n] each). */
  update(paramsPtr: number, gradPtr: number): void {
    const o = this.options
    this.step += 1
    this.kernel(
      paramsPtr,
      gradPtr,
      this.mPtr,
      this.vPtr,
      this.n,
      this.lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      o.kind === 'adamw' ? 1 : 0,
      this.step,
    )
  }

  /** Copies of the moments and the step count. */
  state(): { m: Float32Array; v: Float32Array; step: number } {
    return { m: this.core.f32(this.mPtr, this.n).slice(), v: this.core.f32(this.vPtr, this.n).slice(), step: this.step }
  }

  /** Restores a state taken by `state()` (AdamMCMC rejects a step this way). */
  restore(s: { m: ArrayLike<number>; v: ArrayLike<number>; step: number }): void {
    if (s.m.length !== this.n || s.v.length !== this.n)
      throw new RangeError(`Adam state has ${s.m.length}/${s.v.length} moments, the optimizer ${this.n}`)
    this.core.f32(this.mPtr, this.n).set(s.m)
    this.core.f32(this.vPtr, this.n).set(s.v)
    this.step = s.step
  }
}
