/**
 * The experiment config: what to train (data, model, methods and their hyperparameter grids,
 * training seeds), how to generate (solver, point count, shards) and what to evaluate (grid
 * sizes, nominal levels). JSON, decoded strictly: unknown fields, wrong types and bad values are
 * errors that name their path, e.g. `methods.vib.k[2]: expected a positive number, got -1`.
 *
 * Defaults are part of the codec: a missing field is filled with the default written next to it
 * below (`withDefault`), so the decoded `Experiment` is complete and is what gets hashed into the
 * run id and written to `runs/<run>/config.json`. The defaults are the paper's (sections 4–6)
 * except the grid sizes (2…20 rather than up to 200, so that a default run stays small).
 * `levels` may be given as a count `n` and decodes to `n` levels `i / (n − 1)`, i = 0…n−1.
 *
 * The only fields without a default are `methods` (at least one method, each with its grid:
 * `vib.k` or `mcmc.sigma`).
 */
import type { Solver } from '../core/ode.ts'
import type { PointCount } from '../generate/plan.ts'
import { readFile } from 'node:fs/promises'

import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'

import {
  type Codec,
  constrained,
  defaultSection,
  finiteNumber,
  list,
  literal,
  map,
  matching,
  nonEmptyString,
  nonNegativeInteger,
  nonNegativeNumber,
  oneOf,
  optional,
  positiveInteger,
  positiveNumber,
  report,
  struct,
  tagged,
  unitNumber,
  withDefault,
} from './codecs.ts'
import { type Activation, ACTIVATIONS, type MlpSpec, PAPER_SPEC } from '../model/spec.ts'
import { type ConfigError, causeOf, configError } from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Training data: the Gamma ring of the paper (section 4.1), or points from a `.npy` `[N, d]`. */
export type DataSpec =
  | {
      readonly kind: 'gamma-ring'
      /** Shape α of `r − shift ~ Γ(α, rate)`. */
      readonly alpha: number
      /** Rate β. */
      readonly rate: number
      /** Inner radius of the ring. */
      readonly shift: number
    }
  | {
      readonly kind: 'npy'
      /** Training points, `[N, d]`, float32 or float64. */
      readonly path: string
      /** A large truth sample `[M, d]` from which quantile edges are taken (default: `path`). */
      readonly truth?: string
    }

/** Adam or AdamW, PyTorch's parameterisation (shared/train/adam.ts). */
export interface OptimizerSpec {
  readonly kind: 'adam' | 'adamw'
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  /** Adam: L2 term; AdamW: decoupled decay. Default 0 for Adam, 0.01 for AdamW (PyTorch's). */
  readonly weightDecay: number
}

/** Settings shared by every training: CFM batches, learning rate, optimizer. */
export interface TrainingSpec {
  readonly batchSize: number
  readonly batchesPerEpoch: number
  readonly lr: number
  /** σ_min of the CFM loss (3.4). */
  readonly sigmaMin: number
  readonly optimizer: OptimizerSpec
}

/** Mean-field VIB (section 3.1), one group per `k`. */
export interface VibSpec {
  /** The KL weights k to sweep (one group each). */
  readonly k: readonly number[]
  /** 'elbo': KL weighted k/N; 'paper': the reference code's per-tensor mean KL / batch size. */
  readonly klNormalization: 'elbo' | 'paper'
  /**
   * How a batch's per-point weight draws are made: 'local' reparameterization (an independent
   * draw per point) or 'flipout' (one Gaussian draw per batch, sign-flipped per point; cheaper).
   */
  readonly estimator: 'local' | 'flipout'
  /** Posterior draws n_VIB per training. */
  readonly draws: number
  /** Cap on epochs; training stops earlier once the KL term has converged. */
  readonly maxEpochs: number
  /** CFM epochs that initialise μ (0: random initialisation). */
  readonly pretrainEpochs: number
  /** Prior N(0, s²) scale s. */
  readonly priorScale: number
  /** Initial ρ, σ = softplus(ρ). */
  readonly rhoInit: number
  /** The KL-convergence criterion; absent: the trainer's defaults. */
  readonly stop?: { readonly window: number; readonly tol: number; readonly minEpochs: number }
}

/** AdamMCMC (section 3.2), one group per σ. */
export interface McmcSpec {
  /** The noise parameters σ to sweep (one group each), per weight before the 1/√n normalisation. */
  readonly sigma: readonly number[]
  /**
   * σ_Δ of the rank-one proposal term (3.8), per weight before the 1/√n normalisation; absent:
   * n_weights / 50, the paper's "σ_Δ ≈ 50" for its 2498-weight model.
   */
  readonly sigmaDelta?: number
  /** Inverse temperature λ (3.9). */
  readonly lambda: number
  /**
   * Adam's learning rate in the chain; absent: `training.lr`, as in the paper. With an exact
   * Metropolis–Hastings step a smaller one may be needed for a useful acceptance rate (README).
   */
  readonly lr?: number
  /** Epochs between kept samples. */
  readonly thinning: number
  /** Kept samples n_MCMC per chain. */
  readonly samples: number
  /**
   * Epochs run and discarded before the first kept sample's stretch (default 10: they let Adam's
   * moment estimates settle on the energy before the state is frozen).
   */
  readonly burnIn: number
  /** CFM epochs before the chain starts. */
  readonly pretrainEpochs: number
  /** Fixed-step solver of the log-likelihood in the energy (default RK4, 8 steps). */
  readonly solver: { readonly kind: 'euler' | 'midpoint' | 'rk4'; readonly steps: number }
  /**
   * 'burnIn' (default): Adam's state adapts during burn-in and is frozen afterwards, so the kept
   * chain is an exact Metropolis–Hastings chain; 'always': it keeps adapting, as the reference
   * code does — measurably biased (shared/train/adam-mcmc.ts).
   */
  readonly adaptation: 'always' | 'burnIn'
}

export interface MethodsSpec {
  readonly vib?: VibSpec
  readonly mcmc?: McmcSpec
}

/** An ODE solver: the solvers' own type. */
export type SolverSpec = Solver

/** Points per posterior sample: generation's own type. */
export type PointsSpec = PointCount

export interface GenerationSpec {
  readonly solver: SolverSpec
  readonly points: PointsSpec
  /** Points per shard: the unit of work of one `generate` invocation; a multiple of `chunkSize`. */
  readonly shardSize: number
  /** Points per chunk: fixes the computation (see shared/generate/plan.ts). */
  readonly chunkSize: number
  /** Seed of the latent points. */
  readonly seed: number
  /** 'common': every posterior sample decodes the same latent points; 'independent': one stream per sample. */
  readonly latent: 'common' | 'independent'
}

/** A decoded experiment, every default filled. */
export interface Experiment {
  /** A run name (a safe path segment); absent: the run is named by the config's hash. */
  readonly name?: string
  readonly data: DataSpec
  /** Training points N per training. */
  readonly trainingSize: number
  readonly model: MlpSpec
  readonly training: TrainingSpec
  readonly methods: MethodsSpec
  /** Independent trainings (training seeds 0 … seeds − 1) per hyperparameter. */
  readonly seeds: number
  readonly generation: GenerationSpec
  /** Sides n of the n × n quantile grids. */
  readonly grids: readonly number[]
  /** Nominal coverage levels in [0, 1]. */
  readonly levels: readonly number[]
}

// -------------------------------------------------------------------------------------
// defaults
// -------------------------------------------------------------------------------------

/** The paper's Gamma ring: φ ~ U(0, 2π), r − 4 ~ Γ(α = 2, rate 2). */
export const DEFAULT_DATA: DataSpec = { kind: 'gamma-ring', alpha: 2, rate: 2, shift: 4 }

export const DEFAULT_TRAINING_SIZE = 10_000

export const DEFAULT_SEEDS = 5

/** Grid sides 2 … 20. */
export const DEFAULT_GRIDS: readonly number[] = Array.from({ length: 19 }, (_, i) => i + 2)

/** 50 nominal levels linearly spaced in [0, 1], as the paper's figures 2–3. */
export const DEFAULT_LEVELS = 50

export const DEFAULT_SHARD_SIZE = 1 << 20

export const DEFAULT_CHUNK_SIZE = 4096

/** `n` levels `i / (n − 1)`, i = 0 … n − 1 (exactly 0 and 1 at the ends). */
export const linearLevels = (n: number): number[] => Array.from({ length: n }, (_, i) => (n === 1 ? 0 : i / (n - 1)))

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/** A run name: a path segment safe on every file system and in S3 keys and URLs. */
export const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const runName = matching(
  'a name of letters, digits, ".", "_" or "-" (at most 64, not starting with "." or "-")',
  RUN_NAME,
)

const gammaRing = struct('a gamma-ring data spec', {
  kind: literal('gamma-ring'),
  alpha: withDefault(positiveNumber, 2),
  rate: withDefault(positiveNumber, 2),
  shift: withDefault(nonNegativeNumber, 4),
})

const npyData = struct('an npy data spec', {
  kind: literal('npy'),
  path: nonEmptyString,
  truth: optional(nonEmptyString),
})

const data: Codec<DataSpec> = tagged('kind', { 'gamma-ring': gammaRing, npy: npyData })

const activation: Codec<Activation> = oneOf(ACTIVATIONS)

const model: Codec<MlpSpec> = struct('a model spec', {
  dim: withDefault(positiveInteger, PAPER_SPEC.dim),
  hidden: withDefault(list(positiveInteger, { nonEmpty: true }), PAPER_SPEC.hidden),
  activation: withDefault(activation, PAPER_SPEC.activation),
  frequencies: withDefault(nonNegativeInteger, PAPER_SPEC.frequencies),
})

const beta = constrained('a number in [0, 1)', (x) => x >= 0 && x < 1)

/** PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, weight decay 0 (Adam) or 0.01 (AdamW). */
const optimizer: Codec<OptimizerSpec> = map(
  struct('an optimizer spec', {
    kind: withDefault(oneOf(['adam', 'adamw'] as const), 'adam'),
    beta1: withDefault(beta, 0.9),
    beta2: withDefault(beta, 0.999),
    eps: withDefault(positiveNumber, 1e-8),
    weightDecay: optional(nonNegativeNumber),
  }),
  (o) => ({ ...o, weightDecay: o.weightDecay ?? (o.kind === 'adamw' ? 0.01 : 0) }),
)

/** Section 4.2: Adam at 10⁻³, epochs of 10 batches of 1000 points; σ_min 10⁻⁴. */
const training: Codec<TrainingSpec> = struct('a training spec', {
  batchSize: withDefault(positiveInteger, 1000),
  batchesPerEpoch: withDefault(positiveInteger, 10),
  lr: withDefault(positiveNumber, 1e-3),
  sigmaMin: withDefault(nonNegativeNumber, 1e-4),
  optimizer: defaultSection(optimizer),
})

/** Posterior samples: the spread between them is the uncertainty, so at least two. */
const atLeastTwo = constrained('an integer ≥ 2', (x) => Number.isSafeInteger(x) && x >= 2)

const grid = list(positiveNumber, { nonEmpty: true, distinct: true })

/** Section 4.2: at most 250k epochs, n_VIB = 50 draws (section 5); ρ₀ = −3, prior N(0, 1). */
const vib: Codec<VibSpec> = struct('a vib spec', {
  k: grid,
  klNormalization: withDefault(oneOf(['elbo', 'paper'] as const), 'elbo'),
  estimator: withDefault(oneOf(['local', 'flipout'] as const), 'local'),
  draws: withDefault(atLeastTwo, 50),
  maxEpochs: withDefault(positiveInteger, 250_000),
  pretrainEpochs: withDefault(nonNegativeInteger, 0),
  priorScale: withDefault(positiveNumber, 1),
  rhoInit: withDefault(finiteNumber, -3),
  stop: optional(
    struct('a stop spec', { window: positiveInteger, tol: positiveNumber, minEpochs: nonNegativeInteger }),
  ),
})

const fixedStep = <K extends 'euler' | 'midpoint' | 'rk4'>(kind: K) =>
  struct(`a ${kind} solver`, { kind: literal(kind), steps: positiveInteger })

const fixedStepSolver: Codec<McmcSpec['solver']> = tagged('kind', {
  euler: fixedStep('euler'),
  midpoint: fixedStep('midpoint'),
  rk4: fixedStep('rk4'),
})

/** Section 4.2: σ_Δ ≈ 50, λ = 1, a sample every 100 epochs, n_MCMC = 10, 2500 CFM epochs first. */
const mcmc: Codec<McmcSpec> = struct('an mcmc spec', {
  sigma: grid,
  sigmaDelta: optional(nonNegativeNumber),
  lambda: withDefault(positiveNumber, 1),
  lr: optional(positiveNumber),
  thinning: withDefault(positiveInteger, 100),
  samples: withDefault(atLeastTwo, 10),
  burnIn: withDefault(nonNegativeInteger, 10),
  pretrainEpochs: withDefault(nonNegativeInteger, 2500),
  solver: withDefault(fixedStepSolver, { kind: 'rk4' as const, steps: 8 }),
  adaptation: withDefault(oneOf(['always', 'burnIn'] as const), 'burnIn'),
})

const methods: Codec<MethodsSpec> = struct('a methods spec', { vib: optional(vib), mcmc: optional(mcmc) })


const solver: Codec<SolverSpec> = tagged('kind', {
  euler: fixedStep('euler'),
  midpoint: fixedStep('midpoint'),
  rk4: fixedStep('rk4'),
  dopri5: struct('a dopri5 solver', {
    kind: literal('dopri5'),
    rtol: positiveNumber,
    atol: positiveNumber,
    maxSteps: optional(positiveInteger),
  }),
})

const points: Codec<PointsSpec> = tagged('kind', {
  fixed: struct('a fixed point count', { kind: literal('fixed'), points: positiveInteger }),
  perBin: struct('a per-bin point count', { kind: literal('perBin'), pointsPerBin: positiveInteger }),
})

/** RK4 with 16 steps; 1000 points per bin of the largest grid (section 5.1, the prefix rule). */
const generation: Codec<GenerationSpec> = struct('a generation spec', {
  solver: withDefault(solver, { kind: 'rk4', steps: 16 }),
  points: withDefault(points, { kind: 'perBin', pointsPerBin: 1000 }),
  shardSize: withDefault(positiveInteger, DEFAULT_SHARD_SIZE),
  chunkSize: withDefault(
    constrained('an integer in [1, 1048576]', (x) => Number.isInteger(x) && x >= 1 && x <= 1 << 20),
    DEFAULT_CHUNK_SIZE,
  ),
  seed: withDefault(constrained('an integer in [0, 2^32)', (x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32), 0),
  latent: withDefault(oneOf(['common', 'independent'] as const), 'common'),
})

const gridSide = constrained('an integer in [1, 4096]', (x) => Number.isInteger(x) && x >= 1 && x <= 4096)

const levels: Codec<readonly number[]> = new t.Type<readonly number[], unknown, unknown>(
  'a level count (an integer ≥ 2) or a non-empty list of numbers in [0, 1]',
  (u): u is readonly number[] => Array.isArray(u),
  (u, c) =>
    typeof u === 'number'
      ? Number.isInteger(u) && u >= 2 && u <= 100_000
        ? t.success(linearLevels(u))
        : t.failure(u, c, `expected an integer level count in [2, 100000], got ${u}`)
      : list(unitNumber, { nonEmpty: true, distinct: true }).validate(u, c),
  t.identity,
)

const experimentFields = struct('an experiment', {
  name: optional(runName),
  data: withDefault(data, DEFAULT_DATA),
  trainingSize: withDefault(positiveInteger, DEFAULT_TRAINING_SIZE),
  model: withDefault(model, PAPER_SPEC),
  training: defaultSection(training),
  methods,
  seeds: withDefault(positiveInteger, DEFAULT_SEEDS),
  generation: defaultSection(generation),
  grids: withDefault(list(gridSide, { nonEmpty: true, distinct: true }), DEFAULT_GRIDS),
  levels: withDefault(levels, linearLevels(DEFAULT_LEVELS)),
})

// -------------------------------------------------------------------------------------
// checks across fields
// -------------------------------------------------------------------------------------

/** Problems that involve more than one field, as `path: problem` lines (empty when none). */
export const crossFieldProblems = (x: Experiment): string[] => {
  const problems: string[] = []
  if (x.methods.vib === undefined && x.methods.mcmc === undefined)
    problems.push('methods: expected at least one method (vib, mcmc), got none')
  if (x.data.kind === 'gamma-ring' && x.model.dim !== 2)
    problems.push(`model.dim: the gamma-ring data is 2-dimensional, got ${x.model.dim}`)
  const { shardSize, chunkSize } = x.generation
  if (shardSize % chunkSize !== 0)
    problems.push(`generation.shardSize: expected a multiple of generation.chunkSize (${chunkSize}), got ${shardSize}`)
  if (x.training.batchSize > x.trainingSize)
    problems.push(`training.batchSize: expected at most trainingSize (${x.trainingSize}), got ${x.training.batchSize}`)
  if (pointsPerSample(x) > Number.MAX_SAFE_INTEGER / 4)
    problems.push(`generation.points: ${pointsPerSample(x)} points per sample are too many`)
  return problems
}

/** Latent points generated per posterior sample: the fixed count, or perBin · n² of the largest grid. */
export const pointsPerSample = (x: Experiment): number => {
  const p = x.generation.points
  return p.kind === 'fixed' ? p.points : p.pointsPerBin * Math.max(...x.grids) ** 2
}

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

/**
 * Decodes an experiment config (already parsed JSON), filling defaults; a failure lists every
 * problem as `path: expected …, got …`.
 *
 * @example
 * decodeExperiment({ methods: { vib: { k: [10] } } }) // Right: paper defaults, VIB k = 10
 * decodeExperiment({ methods: { vib: { k: [-1] } } }) // Left: 'methods.vib.k[0]: expected a positive number, got -1'
 */
export const decodeExperiment = (u: unknown, source?: string): E.Either<ConfigError, Experiment> =>
  pipe(
    experimentFields.decode(u),
    E.mapLeft((errors) => configError(report(errors), source)),
    E.chain((x) => {
      const problems = crossFieldProblems(x)
      return problems.length === 0 ? E.right(x) : E.left(configError(problems, source))
    }),
  )

/** Parses JSON text and decodes it; a syntax error is one problem of the `ConfigError`. */
export const parseExperiment = (text: string, source?: string): E.Either<ConfigError, Experiment> =>
  pipe(
    E.tryCatch(
      () => JSON.parse(text) as unknown,
      (e) => configError([`(root): not valid JSON: ${causeOf(e)}`], source),
    ),
    E.chain((u) => decodeExperiment(u, source)),
  )

/** Reads, parses and decodes a config file; nothing is written. */
export const readExperiment = (path: string): TE.TaskEither<ConfigError, Experiment> =>
  pipe(
    TE.tryCatch(
      () => readFile(path, 'utf8'),
      (e) => configError([`(root): cannot read the file: ${causeOf(e)}`], path),
    ),
    TE.chainEitherK((text) => parseExperiment(text, path)),
  )
