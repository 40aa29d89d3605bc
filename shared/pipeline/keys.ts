/**
 * Storage keys and the plan of a run, as pure functions of the decoded experiment and the stage's
 * coordinates (DESIGN.md, "Storage layout"):
 *
 * ```
 * runs/<run>/config.json
 * runs/<run>/<group>/seed-<s>/posterior/manifest.json, sample-<i>.onnx, training-set.npy
 * runs/<run>/<group>/seed-<s>/counts/sample-<i>/shard-<k>.npy (+ shard-<k>.json, its sidecar)
 * runs/<run>/<group>/report.json, report.html, figures/<name>
 * ```
 *
 * `<run>` is the name the user gives (the `--name` option or the config's `name`), else `r-` and
 * the first 12 hex digits of the SHA-256 of the canonical config. Canonical: the decoded config
 * (every default filled, `levels` expanded) without `name`, as JSON with object keys sorted by
 * code unit at every level, arrays in their order, no whitespace, numbers as JavaScript writes
 * them (shortest round-trip form). So two files that differ only in layout, key order or spelled-
 * out defaults name the same run, and any change that affects a result names another.
 *
 * `<group>` is a method and its swept hyperparameter: `vib-k<k>`, `mcmc-s<σ>`, the number written
 * by `formatNumber` (shortest round-trip form, `e+` → `e`, a leading `-` → `m`): safe in file names, S3 keys
 * and URLs, and distinct numbers give distinct names. The other settings of a method are the
 * same for every group of a run, so the run id already covers them.
 */
import { createHash } from 'node:crypto'

import { type Experiment, pointsPerSample, RUN_NAME } from '../config/experiment.ts'
import { keyProblem } from '../store/store.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Method = 'vib' | 'mcmc'

/** A method at one value of its swept hyperparameter. */
export interface Group {
  readonly name: string
  readonly method: Method
  /** `k` for VIB, `sigma` for AdamMCMC. */
  readonly hyperparameter: 'k' | 'sigma'
  readonly value: number
  /** Posterior samples each training yields (VIB draws, AdamMCMC kept samples). */
  readonly samples: number
}

/** One training: (group, seed) → a posterior of `samples` ONNX files and a manifest. */
export interface TrainingJob {
  readonly group: string
  readonly method: Method
  readonly hyperparameter: 'k' | 'sigma'
  readonly value: number
  readonly seed: number
  readonly samples: number
  /** Written last: its presence means the training is done. */
  readonly manifestKey: string
}

/** One unit of generation: points `[start, end)` of posterior sample `sample`, counted into every grid. */
export interface GenerationItem {
  readonly group: string
  readonly seed: number
  readonly sample: number
  readonly shard: number
  readonly start: number
  readonly end: number
  /** Latent stream: `latentStream(seed, 0)` for every sample with common random numbers, else per sample. */
  readonly stream: number
  readonly modelKey: string
  readonly countsKey: string
  /** Written last: its presence means the shard is done. */
  readonly sidecarKey: string
}

/** One reduction: a group's counts → its report. */
export interface Reduction {
  readonly group: string
  readonly reportKey: string
}

export interface Plan {
  readonly run: string
  readonly configKey: string
  readonly trainings: readonly TrainingJob[]
  readonly generations: readonly GenerationItem[]
  readonly reductions: readonly Reduction[]
}

// -------------------------------------------------------------------------------------
// canonical form and run id
// -------------------------------------------------------------------------------------

/** Canonical JSON: keys sorted at every level, no whitespace (see the module doc). */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new RangeError(`cannot canonicalize the number ${value}`)
  return JSON.stringify(value)
}

/** The config as it is hashed: canonical JSON without the run name. */
export const canonicalConfig = (x: Experiment): string => {
  const { name: _name, ...rest } = x
  return canonicalJson(rest)
}

/** `r-` and 12 hex digits (48 bits) of the canonical config's SHA-256. */
export const configHash = (x: Experiment): string =>
  `r-${createHash('sha256').update(canonicalConfig(x)).digest('hex').slice(0, 12)}`

/** The run's id: `name`, else the config's `name`, else its hash. */
export const runId = (x: Experiment, name?: string): string => {
  const id = name ?? x.name ?? configHash(x)
  if (!RUN_NAME.test(id))
    throw new RangeError(
      `run name ${JSON.stringify(id)} must be 1–64 letters, digits, '.', '_' or '-', starting alphanumerically`,
    )
  return id
}

// -------------------------------------------------------------------------------------
// groups
// -------------------------------------------------------------------------------------

/** A number as a key segment: shortest round-trip form, `e+` → `e`, a leading `-` → `m` (`1e-7`, `2.5`, `m1`). */
export const formatNumber = (v: number): string => {
  if (!Number.isFinite(v)) throw new RangeError(`cannot format ${v} for a key`)
  return String(v).replace('e+', 'e').replace(/^-/, 'm')
}

/** The groups of a run: VIB's in the order of `k`, then AdamMCMC's in the order of `sigma`. */
/** A group's name: the method and its swept hyperparameter, e.g. `vib-k5`, `mcmc-s0.01`. */
export const groupName = (method: Method, value: number): string => `${method}-${method === 'vib' ? 'k' : 's'}${formatNumber(value)}`

export const groups = (x: Experiment): Group[] => {
  const out: Group[] = []
  const { vib, mcmc } = x.methods
  if (vib !== undefined)
    for (const k of vib.k) out.push({ name: groupName('vib', k), method: 'vib', hyperparameter: 'k', value: k, samples: vib.draws })
  if (mcmc !== undefined)
    for (const s of mcmc.sigma)
      out.push({ name: groupName('mcmc', s), method: 'mcmc', hyperparameter: 'sigma', value: s, samples: mcmc.samples })
  return out
}

// -------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------

const index = (what: string, v: number): number => {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be a non-negative integer, got ${v}`)
  return v
}

const segment = (what: string, s: string): string => {
  const problem = s.includes('/') ? "contains '/'" : keyProblem(s)
  if (problem !== undefined) throw new RangeError(`${what} ${JSON.stringify(s)} cannot be a key segment: ${problem}`)
  return s
}

export const runPrefix = (run: string): string => `runs/${segment('run', run)}`

export const configKey = (run: string): string => `${runPrefix(run)}/config.json`

export const groupPrefix = (run: string, group: string): string => `${runPrefix(run)}/${segment('group', group)}`

export const seedPrefix = (run: string, group: string, seed: number): string =>
  `${groupPrefix(run, group)}/seed-${index('seed', seed)}`

export const manifestKey = (run: string, group: string, seed: number): string =>
  `${seedPrefix(run, group, seed)}/posterior/manifest.json`

export const sampleKey = (run: string, group: string, seed: number, sample: number): string =>
  `${seedPrefix(run, group, seed)}/posterior/sample-${index('sample', sample)}.onnx`

export const trainingSetKey = (run: string, group: string, seed: number): string =>
  `${seedPrefix(run, group, seed)}/posterior/training-set.npy`

export const countsKey = (run: string, group: string, seed: number, sample: number, shard: number): string =>
  `${seedPrefix(run, group, seed)}/counts/sample-${index('sample', sample)}/shard-${index('shard', shard)}.npy`

/** The counts' sidecar, `shard-<k>.json` beside `shard-<k>.npy`. */
export const countsSidecarKey = (run: string, group: string, seed: number, sample: number, shard: number): string =>
  countsKey(run, group, seed, sample, shard).replace(/\.npy$/, '.json')

export const reportKey = (run: string, group: string): string => `${groupPrefix(run, group)}/report.json`

export const reportHtmlKey = (run: string, group: string): string => `${groupPrefix(run, group)}/report.html`

/** A figure file, e.g. `figure-2.svg`. */
export const figureKey = (run: string, group: string, file: string): string =>
  `${groupPrefix(run, group)}/figures/${segment('figure file', file)}`

// -------------------------------------------------------------------------------------
// plan
// -------------------------------------------------------------------------------------

/** Shards of one sample: `[k·shardSize, min((k + 1)·shardSize, total))`. */
export interface ShardRange {
  readonly shard: number
  readonly start: number
  readonly end: number
}

export const shards = (x: Experiment): ShardRange[] => {
  const total = pointsPerSample(x)
  const size = x.generation.shardSize
  return Array.from({ length: Math.ceil(total / size) }, (_, k) => ({
    shard: k,
    start: k * size,
    end: Math.min((k + 1) * size, total),
  }))
}

/**
 * The latent stream of a generation item: trainings (seeds) draw independent latents, so that the
 * coverage over seeds is computed from independent samples; within a training, every posterior
 * sample decodes the same latents by default (common random numbers, DESIGN.md) so that the spread
 * between samples is the weights'. Stream = seed · 2¹⁶ + sample part (samples < 2¹⁶).
 */
export const latentStream = (seed: number, sample: number): number => {
  if (sample >= 1 << 16) throw new RangeError(`at most 65536 posterior samples per training, got sample ${sample}`)
  return seed * (1 << 16) + sample
}

/**
 * Everything a run does, in order: trainings (group × seed), generation items (group × seed ×
 * sample × shard), reductions (group). Pure: the same experiment and name give the same plan.
 */
export const plan = (x: Experiment, name?: string): Plan => {
  const run = runId(x, name)
  const gs = groups(x)
  const seeds = Array.from({ length: x.seeds }, (_, s) => s)
  const trainings: TrainingJob[] = gs.flatMap((g) =>
    seeds.map((seed) => ({
      group: g.name,
      method: g.method,
      hyperparameter: g.hyperparameter,
      value: g.value,
      seed,
      samples: g.samples,
      manifestKey: manifestKey(run, g.name, seed),
    })),
  )
  const cut = shards(x)
  const generations: GenerationItem[] = trainings.flatMap((t) =>
    Array.from({ length: t.samples }, (_, sample) =>
      cut.map(({ shard, start, end }) => ({
        group: t.group,
        seed: t.seed,
        sample,
        shard,
        start,
        end,
        stream: latentStream(t.seed, x.generation.latent === 'common' ? 0 : sample),
        modelKey: sampleKey(run, t.group, t.seed, sample),
        countsKey: countsKey(run, t.group, t.seed, sample, shard),
        sidecarKey: countsSidecarKey(run, t.group, t.seed, sample, shard),
      })),
    ).flat(),
  )
  const reductions = gs.map((g) => ({ group: g.name, reportKey: reportKey(run, g.name) }))
  return { run, configKey: configKey(run), trainings, generations, reductions }
}
