import { readFileSync } from 'node:fs'

import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'

import { decodeExperiment, type Experiment } from '../shared/config/experiment.ts'
import {
  canonicalJson,
  configHash,
  configKey,
  countsKey,
  countsSidecarKey,
  figureKey,
  formatNumber,
  groups,
  manifestKey,
  plan,
  reportHtmlKey,
  reportKey,
  runId,
  sampleKey,
  shards,
  trainingSetKey,
} from '../shared/pipeline/keys.ts'
import { keyProblem } from '../shared/store/store.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const ok = (u: unknown): Experiment => {
  const r = decodeExperiment(u)
  if (E.isLeft(r)) throw new Error(r.left.problems.join('\n'))
  return r.right
}

const example = (name: string): Experiment =>
  ok(JSON.parse(readFileSync(new URL(`../examples/${name}`, import.meta.url), 'utf8')))

const MINIMAL = { methods: { vib: { k: [10] }, mcmc: { sigma: [0.1] } } }

// -------------------------------------------------------------------------------------
// canonical form and run id
// -------------------------------------------------------------------------------------

describe('run id', () => {
  it('canonicalJson sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null, u: undefined } })).toBe(
      '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}',
    )
  })

  it('the same config in another layout, key order or with defaults spelled out has the same id', () => {
    const a = ok(JSON.parse('{"methods":{"vib":{"k":[10]},"mcmc":{"sigma":[0.1]}}}'))
    const b = ok(
      JSON.parse(`{
        "seeds": 5,
        "methods": { "mcmc": { "thinning": 100, "sigma": [0.1] }, "vib": { "draws": 50, "k": [10] } },
        "levels": 50,
        "generation": { "solver": { "steps": 16, "kind": "rk4" } }
      }`),
    )
    expect(configHash(a)).toMatch(/^r-[0-9a-f]{12}$/)
    expect(configHash(b)).toBe(configHash(a))
    expect(runId(b)).toBe(runId(a))
  })

  it('any change that affects results changes the id; the name does not', () => {
    const base = configHash(ok(MINIMAL))
    const changed = [
      { ...MINIMAL, seeds: 4 },
      { ...MINIMAL, methods: { vib: { k: [10], klNormalization: 'paper' }, mcmc: { sigma: [0.1] } } },
      { ...MINIMAL, methods: { vib: { k: [10] }, mcmc: { sigma: [0.1], thinning: 99 } } },
      { ...MINIMAL, grids: [2, 3] },
      { ...MINIMAL, generation: { seed: 1 } },
    ].map((u) => configHash(ok(u)))
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1)
    expect(configHash(ok({ ...MINIMAL, name: 'mine' }))).toBe(base)
  })

  it('a given name wins over the config name, which wins over the hash', () => {
    const x = ok({ ...MINIMAL, name: 'cfg-name' })
    expect(runId(x)).toBe('cfg-name')
    expect(runId(x, 'cli.name_1')).toBe('cli.name_1')
    expect(runId(ok(MINIMAL))).toBe(configHash(ok(MINIMAL)))
    expect(() => runId(x, '../escape')).toThrow(/run name "..\/escape"/)
  })
})

// -------------------------------------------------------------------------------------
// groups
// -------------------------------------------------------------------------------------

describe('groups', () => {
  it('formatNumber: shortest round-trip form, safe characters', () => {
    expect([0.01, 5, 0.5, 1e-7, 1e21, 2.5e-10, -1, 0.1 + 0.2].map(formatNumber)).toEqual([
      '0.01',
      '5',
      '0.5',
      '1e-7',
      '1e21',
      '2.5e-10',
      'm1',
      '0.30000000000000004',
    ])
    expect(() => formatNumber(Number.NaN)).toThrow(RangeError)
  })

  it('formatNumber is one-to-one on a sample of doubles and stays in [0-9a-z.-]', () => {
    const values = new Set<number>()
    let x = 12345
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0
      values.add((x / 2 ** 32) * 10 ** ((i % 60) - 30) * (i % 3 === 0 ? -1 : 1))
      values.add(i / 1000)
    }
    const names = [...values].map(formatNumber)
    expect(new Set(names).size).toBe(values.size)
    for (const n of names) expect(n).toMatch(/^[0-9a-z.-]+$/)
  })

  it('the paper sweep has one group per hyperparameter value', () => {
    expect(groups(example('paper.json')).map((g) => g.name)).toEqual([
      'vib-k1',
      'vib-k5',
      'vib-k10',
      'vib-k50',
      'mcmc-s0.01',
      'mcmc-s0.05',
      'mcmc-s0.1',
      'mcmc-s0.5',
    ])
    expect(groups(example('paper.json')).map((g) => g.samples)).toEqual([50, 50, 50, 50, 10, 10, 10, 10])
  })

  it('different hyperparameters give different groups', () => {
    const a = groups(ok({ methods: { vib: { k: [0.1, 1, 10] }, mcmc: { sigma: [0.1, 1, 10] } } })).map((g) => g.name)
    expect(new Set(a).size).toBe(6)
  })
})

// -------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------

describe('keys', () => {
  it('follow the storage layout', () => {
    expect(configKey('r')).toBe('runs/r/config.json')
    expect(manifestKey('r', 'vib-k5', 2)).toBe('runs/r/vib-k5/seed-2/posterior/manifest.json')
    expect(sampleKey('r', 'vib-k5', 2, 17)).toBe('runs/r/vib-k5/seed-2/posterior/sample-17.onnx')
    expect(trainingSetKey('r', 'vib-k5', 2)).toBe('runs/r/vib-k5/seed-2/posterior/training-set.npy')
    expect(countsKey('r', 'mcmc-s0.01', 0, 3, 1)).toBe('runs/r/mcmc-s0.01/seed-0/counts/sample-3/shard-1.npy')
    expect(countsSidecarKey('r', 'mcmc-s0.01', 0, 3, 1)).toBe('runs/r/mcmc-s0.01/seed-0/counts/sample-3/shard-1.json')
    expect(reportKey('r', 'vib-k5')).toBe('runs/r/vib-k5/report.json')
    expect(reportHtmlKey('r', 'vib-k5')).toBe('runs/r/vib-k5/report.html')
    expect(figureKey('r', 'vib-k5', 'figure-2.svg')).toBe('runs/r/vib-k5/figures/figure-2.svg')
  })

  it('refuse coordinates that would make a bad key', () => {
    expect(() => manifestKey('r', 'g', -1)).toThrow(/seed must be a non-negative integer, got -1/)
    expect(() => countsKey('r', 'g', 0, 1.5, 0)).toThrow(/sample must be/)
    expect(() => countsKey('r', 'g', 0, 0, Number.NaN)).toThrow(/shard must be/)
    expect(() => reportKey('r', 'a/b')).toThrow(/group "a\/b"/)
    expect(() => configKey('..')).toThrow(/run ".."/)
    expect(() => figureKey('r', 'g', '../x.svg')).toThrow(/figure file/)
  })
})

// -------------------------------------------------------------------------------------
// plan
// -------------------------------------------------------------------------------------

describe('plan', () => {
  it('counts of the paper sweep', () => {
    const p = plan(example('paper.json'))
    // 8 groups × 5 seeds.
    expect(p.trainings).toHaveLength(40)
    // 1000 · 200² = 4·10⁷ points per sample in shards of 2²⁰: ⌈38.15⌉ = 39.
    expect(shards(example('paper.json'))).toHaveLength(39)
    // (4 VIB groups × 50 draws + 4 MCMC groups × 10 samples) × 5 seeds × 39 shards.
    expect(p.generations).toHaveLength((4 * 50 + 4 * 10) * 5 * 39)
    expect(p.reductions.map((r) => r.reportKey)).toEqual(
      groups(example('paper.json')).map((g) => `runs/paper/${g.name}/report.json`),
    )
  })

  it('the smoke run, item by item', () => {
    const p = plan(example('smoke.json'))
    expect(p.run).toBe('smoke')
    expect(p.configKey).toBe('runs/smoke/config.json')
    expect(p.trainings.map((t) => `${t.group}/${t.seed}`)).toEqual([
      'vib-k10/0', 'vib-k10/1', 'mcmc-s0.1/0', 'mcmc-s0.1/1',
    ])
    // 100 · 3² = 900 points in shards of 512: [0, 512) and [512, 900); 2 groups × 2 seeds × 4 samples × 2.
    expect(p.generations).toHaveLength(32)
    expect(p.generations.slice(0, 2)).toEqual([
      {
        group: 'vib-k10',
        seed: 0,
        sample: 0,
        shard: 0,
        start: 0,
        end: 512,
        stream: 0,
        modelKey: 'runs/smoke/vib-k10/seed-0/posterior/sample-0.onnx',
        countsKey: 'runs/smoke/vib-k10/seed-0/counts/sample-0/shard-0.npy',
        sidecarKey: 'runs/smoke/vib-k10/seed-0/counts/sample-0/shard-0.json',
      },
      {
        group: 'vib-k10',
        seed: 0,
        sample: 0,
        shard: 1,
        start: 512,
        end: 900,
        stream: 0,
        modelKey: 'runs/smoke/vib-k10/seed-0/posterior/sample-0.onnx',
        countsKey: 'runs/smoke/vib-k10/seed-0/counts/sample-0/shard-1.npy',
        sidecarKey: 'runs/smoke/vib-k10/seed-0/counts/sample-0/shard-1.json',
      },
    ])
  })

  it('shards tile [0, points) without gaps or overlaps', () => {
    for (const [points, shardSize] of [
      [4096, 4096],
      [4097, 4096],
      [100_000, 8192],
      [1, 4096],
    ]) {
      const x = ok({ ...MINIMAL, generation: { points: { kind: 'fixed', points }, shardSize } })
      const s = shards(x)
      expect(s[0].start).toBe(0)
      expect(s[s.length - 1].end).toBe(points)
      s.forEach((r, k) => {
        expect(r.shard).toBe(k)
        expect(r.end - r.start).toBeGreaterThan(0)
        expect(r.end - r.start).toBeLessThanOrEqual(shardSize)
        if (k > 0) expect(r.start).toBe(s[k - 1].end)
      })
      expect(s).toHaveLength(Math.ceil(points / shardSize))
    }
  })

  it('is pure: the same config gives the same plan, every key unique and under the run', () => {
    const x = example('quick.json')
    const p = plan(x)
    expect(plan(ok(JSON.parse(JSON.stringify(x))))).toEqual(p)
    const keys = [
      p.configKey,
      ...p.trainings.map((t) => t.manifestKey),
      ...p.generations.flatMap((g) => [g.countsKey, g.sidecarKey]),
      ...p.reductions.map((r) => r.reportKey),
    ]
    expect(new Set(keys).size).toBe(keys.length)
    for (const k of keys) {
      expect(keyProblem(k)).toBeUndefined()
      expect(k.startsWith(`runs/${p.run}/`)).toBe(true)
    }
  })

  it('independent latents give each sample its own stream', () => {
    const x = ok({ ...MINIMAL, generation: { latent: 'independent', points: { kind: 'fixed', points: 10 } } })
    const streams = plan(x).generations.filter((g) => g.group === 'vib-k10' && g.seed === 0).map((g) => g.stream)
    expect(streams).toEqual(Array.from({ length: 50 }, (_, i) => i))
    // common latents: one stream per training seed, shared by all its samples
    const common = plan(ok(MINIMAL)).generations
    for (const seed of [0, 1, 4]) expect(new Set(common.filter((g) => g.seed === seed).map((g) => g.stream))).toEqual(new Set([seed * 65536]))
  })
})
