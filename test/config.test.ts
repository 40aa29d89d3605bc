import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import * as E from 'fp-ts/lib/Either.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  decodeExperiment,
  type Experiment,
  parseExperiment,
  pointsPerSample,
  readExperiment,
} from '../shared/config/experiment.ts'
import { describe as describeError, exitCode } from '../shared/pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const EXAMPLES = new URL('../examples/', import.meta.url)

const ok = (u: unknown): Experiment => {
  const r = decodeExperiment(u)
  if (E.isLeft(r)) throw new Error(describeError(r.left))
  return r.right
}

/** The problem lines of a config that must not decode. */
const problems = (u: unknown): readonly string[] => {
  const r = decodeExperiment(u)
  if (E.isRight(r)) throw new Error('expected the config to be refused')
  expect(r.left._tag).toBe('ConfigError')
  return r.left.problems
}

const MINIMAL = { methods: { vib: { k: [10] } } }

/** `MINIMAL` with `patch` merged in at the top level. */
const withField = (patch: Record<string, unknown>): unknown => ({ ...MINIMAL, ...patch })

// -------------------------------------------------------------------------------------
// defaults
// -------------------------------------------------------------------------------------

describe('defaults', () => {
  it('a minimal config gets the paper settings, written out here field by field', () => {
    const x = ok(MINIMAL)
    const { levels, ...rest } = x
    expect(rest).toEqual({
      data: { kind: 'gamma-ring', alpha: 2, rate: 2, shift: 4 },
      trainingSize: 10000,
      model: { dim: 2, hidden: [32, 32, 32], activation: 'elu', frequencies: 3 },
      training: {
        batchSize: 1000,
        batchesPerEpoch: 10,
        lr: 0.001,
        sigmaMin: 0.0001,
        optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      },
      methods: {
        vib: {
          k: [10],
          klNormalization: 'elbo',
          estimator: 'local',
          draws: 50,
          maxEpochs: 250000,
          pretrainEpochs: 0,
          priorScale: 1,
          rhoInit: -3,
        },
      },
      seeds: 5,
      generation: {
        solver: { kind: 'rk4', steps: 16 },
        points: { kind: 'perBin', pointsPerBin: 1000 },
        shardSize: 1048576,
        chunkSize: 4096,
        seed: 0,
        latent: 'common',
      },
      grids: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
    })
    // 50 levels spaced 1/49 in [0, 1], both ends exact.
    expect(levels).toHaveLength(50)
    expect(levels[0]).toBe(0)
    expect(levels[49]).toBe(1)
    levels.forEach((c, i) => expect(c).toBeCloseTo(i / 49, 15))
  })

  it('AdamMCMC defaults are section 4.2’s', () => {
    expect(ok({ methods: { mcmc: { sigma: [0.1] } } }).methods).toEqual({
      // σ_Δ absent: the trainer takes n_weights / 50; the chain keeps Adam's state from burn-in on.
      mcmc: {
        sigma: [0.1],
        lambda: 1,
        thinning: 100,
        samples: 10,
        burnIn: 10,
        pretrainEpochs: 2500,
        solver: { kind: 'rk4', steps: 8 },
        adaptation: 'burnIn',
      },
    })
  })

  it('AdamW defaults to weight decay 0.01 unless one is given', () => {
    expect(ok(withField({ training: { optimizer: { kind: 'adamw' } } })).training.optimizer.weightDecay).toBe(0.01)
    const explicit = ok(withField({ training: { optimizer: { kind: 'adamw', weightDecay: 0 } } }))
    expect(explicit.training.optimizer.weightDecay).toBe(0)
  })

  it('a partial section keeps the defaults of its other fields', () => {
    const x = ok(withField({ generation: { solver: { kind: 'dopri5', rtol: 1e-5, atol: 1e-6 } } }))
    expect(x.generation.solver).toEqual({ kind: 'dopri5', rtol: 1e-5, atol: 1e-6 })
    expect(x.generation.points).toEqual({ kind: 'perBin', pointsPerBin: 1000 })
  })

  it('levels as a count or as a list', () => {
    expect(ok(withField({ levels: 5 })).levels).toEqual([0, 0.25, 0.5, 0.75, 1])
    expect(ok(withField({ levels: [0.9, 0.5] })).levels).toEqual([0.9, 0.5])
  })

  it('a decoded config decodes to itself (what is written to config.json reads back the same)', () => {
    for (const u of [MINIMAL, { methods: { mcmc: { sigma: [0.01, 0.5] } }, levels: 7, name: 'x' }]) {
      const x = ok(u)
      expect(ok(JSON.parse(JSON.stringify(x)))).toEqual(x)
    }
  })

  it('pointsPerSample: perBin · n² of the largest grid, or the fixed count', () => {
    expect(pointsPerSample(ok(withField({ grids: [2, 7, 3] })))).toBe(1000 * 49)
    expect(pointsPerSample(ok(withField({ generation: { points: { kind: 'fixed', points: 12345 } } })))).toBe(12345)
  })
})

// -------------------------------------------------------------------------------------
// examples
// -------------------------------------------------------------------------------------

describe('examples', () => {
  const read = async (name: string): Promise<Experiment> => {
    const r = await readExperiment(new URL(name, EXAMPLES).pathname)()
    if (E.isLeft(r)) throw new Error(describeError(r.left))
    return r.right
  }

  it.each(['smoke.json', 'quick.json', 'paper.json'])('%s decodes', async (name) => {
    const x = await read(name)
    expect(x.name).toBe(name.replace('.json', ''))
  })

  it('paper.json is the sweep of sections 4–6', async () => {
    const x = await read('paper.json')
    expect(x.methods.vib?.k).toEqual([1, 5, 10, 50])
    expect(x.methods.vib?.klNormalization).toBe('paper')
    expect(x.methods.vib?.draws).toBe(50)
    expect(x.methods.mcmc?.sigma).toEqual([0.01, 0.05, 0.1, 0.5])
    expect(x.methods.mcmc).toMatchObject({
      sigmaDelta: 50,
      lambda: 1,
      thinning: 100,
      samples: 10,
      pretrainEpochs: 2500,
    })
    expect(x.seeds).toBe(5)
    expect(x.trainingSize).toBe(10000)
    expect(x.generation.points).toEqual({ kind: 'perBin', pointsPerBin: 1000 })
    expect(Math.min(...x.grids)).toBe(2)
    expect(Math.max(...x.grids)).toBe(200)
    expect(x.levels).toHaveLength(50)
  })
})

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

describe('errors', () => {
  it('a bad value names its path, the constraint and the value', () => {
    expect(problems({ methods: { vib: { k: [1, 5, -1] } } })).toEqual([
      'methods.vib.k[2]: expected a positive number, got -1',
    ])
  })

  it('unknown fields are errors at every level, including inside a tagged union', () => {
    expect(
      problems({
        ...MINIMAL,
        extra: 1,
        generation: { solverr: { kind: 'rk4', steps: 4 }, solver: { kind: 'rk4', steps: 4, stepz: 1 } },
        methods: { vib: { k: [1], kk: [2] } },
      }),
    ).toEqual([
      'extra: unknown field',
      'methods.vib.kk: unknown field',
      'generation.solverr: unknown field',
      'generation.solver.stepz: unknown field',
    ])
  })

  it('wrong types name the expected type', () => {
    expect(problems(withField({ trainingSize: '10000' }))).toEqual([
      'trainingSize: expected a positive integer, got "10000"',
    ])
    expect(problems({ methods: { vib: { k: 5 } } })).toEqual([
      'methods.vib.k: expected a non-empty list of positive numbers, got 5',
    ])
    expect(problems(withField({ model: { hidden: [32, 'x'] } }))).toEqual([
      'model.hidden[1]: expected a positive integer, got "x"',
    ])
    expect(problems([MINIMAL])).toEqual(['(root): expected an experiment, got [{"methods":{"vib":{"k":[10]}}}]'])
    expect(problems(null)).toEqual(['(root): expected an experiment, got null'])
  })

  it('missing required fields say so', () => {
    expect(problems({})).toEqual(['methods: missing, expected a methods spec'])
    expect(problems(withField({ generation: { solver: { kind: 'dopri5', rtol: 1e-6 } } }))).toEqual([
      'generation.solver.atol: missing, expected a positive number',
    ])
  })

  it('bad values of every kind', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { generation: { solver: { kind: 'rk5', steps: 4 } } },
        "generation.solver.kind: expected one of 'euler', 'midpoint', 'rk4', 'dopri5', got \"rk5\"",
      ],
      [
        { generation: { solver: { kind: 'rk4', steps: 0 } } },
        'generation.solver.steps: expected a positive integer, got 0',
      ],
      [{ generation: { seed: 2 ** 32 } }, 'generation.seed: expected an integer in [0, 2^32), got 4294967296'],
      [
        { model: { activation: 'gelu' } },
        "model.activation: expected one of 'elu', 'silu', 'tanh', 'relu', got \"gelu\"",
      ],
      [{ model: { hidden: [] } }, 'model.hidden: expected a non-empty list of positive integers, got []'],
      [{ grids: [2, 0] }, 'grids[1]: expected an integer in [1, 4096], got 0'],
      [{ grids: [2, 3, 2] }, 'grids[2]: 2 is repeated'],
      [{ levels: 1 }, 'levels: expected an integer level count in [2, 100000], got 1'],
      [{ levels: [0.5, 1.5] }, 'levels[1]: expected a number in [0, 1], got 1.5'],
      [{ data: { kind: 'npy' } }, 'data.path: missing, expected a non-empty string'],
      [{ data: { kind: 'csv', path: 'x' } }, "data.kind: expected one of 'gamma-ring', 'npy', got \"csv\""],
      [
        { methods: { vib: { k: [1], estimator: 'lrt' } } },
        "methods.vib.estimator: expected one of 'local', 'flipout', got \"lrt\"",
      ],
      [
        { name: '../up' },
        'name: expected a name of letters, digits, ".", "_" or "-" (at most 64, not starting with "." or "-"), got "../up"',
      ],
      [{ seeds: 1.5 }, 'seeds: expected a positive integer, got 1.5'],
      [{ training: { lr: -1 } }, 'training.lr: expected a positive number, got -1'],
      [{ training: { optimizer: { beta1: 1 } } }, 'training.optimizer.beta1: expected a number in [0, 1), got 1'],
    ]
    for (const [patch, line] of cases) expect(problems(withField(patch))).toEqual([line])
    expect(problems({ methods: { vib: { k: [] } } })).toEqual([
      'methods.vib.k: expected a non-empty list of positive numbers, got []',
    ])
    expect(problems({ methods: { vib: { k: [5, 5] } } })).toEqual(['methods.vib.k[1]: 5 is repeated'])
    expect(problems({ methods: { mcmc: { sigma: [0.1], samples: 1 } } })).toEqual([
      'methods.mcmc.samples: expected an integer ≥ 2, got 1',
    ])
  })

  it('problems across fields name the field to change', () => {
    expect(problems({ methods: {} })).toEqual(['methods: expected at least one method (vib, mcmc), got none'])
    expect(problems(withField({ model: { dim: 3 } }))).toEqual([
      'model.dim: the gamma-ring data is 2-dimensional, got 3',
    ])
    expect(problems(withField({ generation: { shardSize: 5000 } }))).toEqual([
      'generation.shardSize: expected a multiple of generation.chunkSize (4096), got 5000',
    ])
    expect(problems(withField({ trainingSize: 500 }))).toEqual([
      'training.batchSize: expected at most trainingSize (500), got 1000',
    ])
    // An .npy data set may have any dimension.
    expect(ok(withField({ data: { kind: 'npy', path: 'x.npy' }, model: { dim: 3 } })).model.dim).toBe(3)
  })

  it('every problem is reported at once', () => {
    expect(problems({ methods: { vib: { k: [-1] }, mcmc: { sigma: ['a'] } }, seeds: 0, oops: true })).toHaveLength(4)
  })

  it('ConfigError: exit code 2, and describe lists the problems under the source', () => {
    const r = decodeExperiment({ methods: { vib: { k: [-1] } } }, 'my.json')
    if (E.isRight(r)) throw new Error('expected a failure')
    expect(exitCode(r.left)).toBe(2)
    expect(describeError(r.left)).toBe(
      'invalid config my.json: 1 problem\n  - methods.vib.k[0]: expected a positive number, got -1',
    )
  })

  it('text that is not JSON', () => {
    const r = parseExperiment('{"methods": ', 'x.json')
    expect(E.isLeft(r) && r.left.problems[0].startsWith('(root): not valid JSON:')).toBe(true)
  })
})

// -------------------------------------------------------------------------------------
// readExperiment
// -------------------------------------------------------------------------------------

describe('readExperiment', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bayesamp-config-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('a missing file is a ConfigError naming the path', async () => {
    const path = join(dir, 'absent.json')
    const r = await readExperiment(path)()
    if (E.isRight(r)) throw new Error('expected a failure')
    expect(r.left.source).toBe(path)
    expect(r.left.problems[0]).toMatch(/^\(root\): cannot read the file: .*ENOENT/)
  })

  it('a malformed config is refused and nothing is written', async () => {
    const path = join(dir, 'bad.json')
    await writeFile(path, JSON.stringify({ methods: { vib: { k: [1], kk: 1 } } }))
    const before = await readdir(dir)
    const r = await readExperiment(path)()
    expect(E.isLeft(r) && r.left.problems).toEqual(['methods.vib.kk: unknown field'])
    expect(await readdir(dir)).toEqual(before)
  })
})
