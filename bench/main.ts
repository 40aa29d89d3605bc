/**
 * `npm run bench`: generation throughput of the paper's model (RK4, 16 steps = 64 field
 * evaluations per point), measured side by side in one process on one core: the WASM kernel
 * (SIMD and relaxed-SIMD builds), the same loop in plain JavaScript, onnxruntime-node called once
 * per solver stage, PyTorch (a child process, one thread), and the f32x4 multiply-add peak; then
 * training (bench/training.ts): CFM steps, VIB steps and the AdamMCMC energy with its gradient,
 * WASM against PyTorch. `--only generation|training` runs one half.
 *
 * The machines this runs on deliver about one core between their two, and absolute speeds drift
 * by ±25 % between runs, in phases of seconds. So every side is measured once per round, rounds
 * are interleaved, and comparisons are per-round ratios (median and min–max over rounds), never
 * absolute figures from different moments.
 */
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { relaxedSimdSupported } from '../shared/core/wasm.ts'
import { type Mlp, PAPER_SPEC, parameterCount } from '../shared/model/spec.ts'
import { benchModel, latents, rowsToSoa, soaToRows } from './model.ts'
import { OrtGenerator } from './ort.ts'
import { peakGflops, peakKernel } from './peak.ts'
import {
  PlainField,
  foldedMacFlopPerEvaluation,
  integrateRk4Plain,
  macFlopPerEvaluation,
  rk4Scratch,
} from './plain-js.ts'
import { type TorchGenerator, startTorch } from './torch.ts'
import { type TrainingReport, trainingBench } from './training.ts'
import { wasmGenerator } from './wasm.ts'
import { type MemoryPoint, measureGeneration } from './memory.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

interface Options {
  readonly quick: boolean
  /** Adds the 10⁸-point memory run. */
  readonly memory: boolean
  readonly rounds: number
  readonly json: string | undefined
  /** Runs only one half of the bench. */
  readonly only: 'generation' | 'training' | undefined
}

/** One measurement taken once per round: a contender's points/s, or a peak's GFLOP/s. */
interface Side {
  readonly key: string
  readonly label: string
  readonly unit: 'points/s' | 'GFLOP/s'
  /** Runs one timed measurement and returns its rate. */
  measure(): Promise<number>
}

interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly samples: readonly number[]
}

const STEPS = 16
const EVALS_PER_POINT = 4 * STEPS
/** The anchors' FLOP count per evaluation of the paper's model (shared/anchors/wasm/RESULTS.md). */
const ANCHOR_FLOP_PER_EVAL = 4932
const ORT_BATCHES = [1024, 8192, 65536] as const
const TORCH_BATCH = 100_000
const WASM_CAPACITY = 1 << 18

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const summarize = (xs: readonly number[]): Summary => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  const median = s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
  return { median, min: s[0], max: s[s.length - 1], samples: xs }
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9

const fmt = (x: number, digits = 3): string =>
  x >= 1e6
    ? `${(x / 1e6).toPrecision(digits)} M`
    : x >= 1e3
      ? `${(x / 1e3).toPrecision(digits)} k`
      : x.toPrecision(digits)

const fmtSummary = (s: Summary, f: (x: number) => string): string =>
  s.samples.length === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)} – ${f(s.max)})`

const ratio = (x: number): string => `${x.toFixed(2)}×`

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/** Rounds `n` to a multiple of `unit`, at least `unit`, at most `cap`. */
const sized = (n: number, unit: number, cap = Infinity): number =>
  Math.min(cap, Math.max(unit, Math.round(n / unit) * unit))

const parseArgs = (argv: readonly string[]): Options => {
  let quick = false
  let memory = false
  let rounds: number | undefined
  let json: string | undefined
  let only: Options['only']
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') quick = true
    else if (a === '--memory') memory = true
    else if (a === '--json') json = argv[++i]
    else if (a === '--rounds') rounds = Number(argv[++i])
    else if (a === '--only') {
      const w = argv[++i]
      if (w !== 'generation' && w !== 'training')
        throw new Error(`bench: --only takes 'generation' or 'training', got '${w ?? ''}'`)
      only = w
    } else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run bench [-- --quick] [--memory] [--rounds N] [--only generation|training] [--json out.json]',
      )
      process.exit(0)
    } else throw new Error(`bench: unknown option '${a}' (try --help)`)
  }
  if (json === undefined && argv.includes('--json')) throw new Error('bench: --json needs a file name')
  const r = rounds ?? (quick ? 1 : 7)
  if (!Number.isInteger(r) || r < 1) throw new Error(`bench: --rounds must be a positive integer, got ${rounds}`)
  return { quick, memory, rounds: r, json, only }
}

// -------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------

/** The generation half: logs its tables and returns its part of the JSON document. */
const generationBench = async (
  opt: Options,
  m: Mlp,
  torch: TorchGenerator | string,
  log: (s: string) => void,
): Promise<Record<string, unknown>> => {
  const target = opt.quick ? 0.08 : 0.3 // seconds per measurement
  const d = m.spec.dim
  const skipped: Record<string, string> = {}

  log(`generation: RK4 ${STEPS} steps = ${EVALS_PER_POINT} field evaluations per point, ${opt.rounds} interleaved round(s)`)
  log('setting up and warming up…')

  // ---- peaks and WASM: each WASM build right after the peak it is compared with ----
  const sides: Side[] = []
  // i.i.d. standard normals: the first d · n of them are the structure-of-arrays state of n points
  const z = latents(WASM_CAPACITY, d, 11)
  const peakSeconds = opt.quick ? 0.05 : 0.1
  for (const variant of ['simd', 'relaxed'] as const) {
    const key = `wasm-${variant}`
    if (variant === 'relaxed' && !relaxedSimdSupported()) {
      skipped[key] =
        'this runtime lacks relaxed SIMD (npm run bench restarts Node.js 20 with --experimental-wasm-relaxed-simd)'
      skipped['peak-madd'] = skipped[key]
      continue
    }
    const k = peakKernel(variant)
    const which = variant === 'simd' ? 'mulAdd' : 'madd'
    peakGflops(k, which, 1e5)
    // A peak is the best the core can do: the best of three short probes per round, so that a
    // probe the scheduler preempted does not pass for a low peak.
    const iterations = Math.round((peakSeconds * peakGflops(k, which, 1e6) * 1e9) / k.flopPerIteration / 3)
    sides.push({
      key: `peak-${which.toLowerCase()}`,
      label: variant === 'simd' ? 'mul + add (SIMD)' : 'relaxed_madd (fused)',
      unit: 'GFLOP/s',
      measure: async () => Math.max(...[0, 1, 2].map(() => peakGflops(k, which, iterations))),
    })
    const g = wasmGenerator(variant, m, WASM_CAPACITY)
    for (let i = 0; i < 5; i++) g.time(z, 1024, STEPS) // past V8's baseline tier
    const n = sized((target * 1024) / g.time(z, 1024, STEPS), 1024, WASM_CAPACITY)
    sides.push({ key, label: `WASM ${variant}`, unit: 'points/s', measure: async () => n / g.time(z, n, STEPS) })
  }

  {
    const field = new PlainField(m)
    const x = new Float32Array(d * WASM_CAPACITY)
    const scratch = rk4Scratch(x.length)
    const time = (n: number): number => {
      x.set(z.subarray(0, d * n))
      const start = process.hrtime.bigint()
      integrateRk4Plain(field, x, n, STEPS, 0, 1, scratch)
      return seconds(start)
    }
    time(64)
    time(64)
    const n = sized((target * 256) / time(256), 64, WASM_CAPACITY)
    sides.push({ key: 'plain-js', label: 'plain JavaScript', unit: 'points/s', measure: async () => n / time(n) })
  }

  const ort: OrtGenerator[] = []
  for (const B of ORT_BATCHES) {
    const g = await OrtGenerator.create(m, B)
    ort.push(g)
    const rows = new Float32Array(d * Math.max(B, 65536))
    const time = async (n: number): Promise<number> => {
      soaToRows(z.subarray(0, d * n), n, d, rows)
      const start = process.hrtime.bigint()
      await g.integrate(rows, n, STEPS)
      return seconds(start)
    }
    await time(B)
    const n = sized((target * B) / (await time(B)), B, Math.max(B, 65536))
    sides.push({
      key: `ort-${B}`,
      label: `onnxruntime, batch ${B}`,
      unit: 'points/s',
      measure: async () => n / (await time(n)),
    })
  }

  const torchCpuPerWall: number[] = []
  if (typeof torch === 'string') skipped.torch = torch
  else {
    await torch.gen(TORCH_BATCH, TORCH_BATCH, 1) // warm-up: allocator, BLAS
    sides.push({
      key: 'torch',
      label: `PyTorch ${torch.info.torch}, batch ${TORCH_BATCH}`,
      unit: 'points/s',
      measure: async () => {
        const r = await torch.gen(TORCH_BATCH, TORCH_BATCH, STEPS)
        torchCpuPerWall.push(r.cpu / r.seconds)
        return TORCH_BATCH / r.seconds
      },
    })
  }

  // ---- agreement: every side integrates the same points ----
  const agreement: Record<string, number> = {}
  {
    const n = 256
    const z0 = latents(n, d, 3)
    const want = z0.slice()
    integrateRk4Plain(new PlainField(m), want, n, STEPS)
    const wantRows = soaToRows(want, n, d)
    for (const variant of ['simd', 'relaxed'] as const) {
      if (skipped[`wasm-${variant}`] !== undefined) continue
      agreement[`wasm-${variant}`] = maxAbsDiff(wasmGenerator(variant, m, n).integrate(z0, n, STEPS), want)
    }
    const o = await OrtGenerator.create(m, n)
    const rows = soaToRows(z0, n, d)
    await o.integrate(rows, n, STEPS)
    await o.release()
    agreement.ort = maxAbsDiff(rows, wantRows)
    if (typeof torch !== 'string') {
      const got = await torch.integrate(soaToRows(z0, n, d), n, STEPS)
      agreement.torch = maxAbsDiff(rowsToSoa(got, n, d), want)
    }
  }

  // ---- rounds ----
  const samples = new Map<string, number[]>(sides.map((s) => [s.key, []]))
  const t0 = process.hrtime.bigint()
  for (let r = 0; r < opt.rounds; r++) {
    for (const s of sides) samples.get(s.key)!.push(await s.measure())
    process.stdout.write(`  round ${r + 1}/${opt.rounds} done (${seconds(t0).toFixed(0)} s)\n`)
  }
  for (const g of ort) await g.release()

  // ---- report ----
  const rates = Object.fromEntries([...samples].map(([k, xs]) => [k, summarize(xs)]))
  const pointSides = sides.filter((s) => s.unit === 'points/s')
  log('')
  log('generation throughput, points/s (median over rounds, min – max), and field evaluations/s')
  for (const s of pointSides) {
    const p = rates[s.key]
    log(`  ${s.label.padEnd(34)} ${fmtSummary(p, (x) => fmt(x)).padEnd(28)} ${fmt(p.median * EVALS_PER_POINT)} evals/s`)
  }
  for (const [k, why] of Object.entries(skipped)) log(`  ${k.padEnd(34)} skipped: ${why}`)
  if (typeof torch !== 'string' && torchCpuPerWall.length > 0)
    log(
      `  (PyTorch: ${torch.info.threads} thread, BLAS ${torch.info.blas.join(', ') || 'unknown'}; ` +
        `CPU/wall time ${summarize(torchCpuPerWall).median.toFixed(2)}, ≈ 1 means one core)`,
    )
  log('')
  log(
    'f32x4 peak, GFLOP/s (multiply-add = 2 FLOP per lane, 4 lanes; 12 independent chains; ' +
      'best of 3 probes per round, each round just before the WASM build it is compared with)',
  )
  for (const s of sides.filter((s) => s.unit === 'GFLOP/s'))
    log(`  ${s.label.padEnd(34)} ${fmtSummary(rates[s.key], (x) => x.toFixed(1))}`)

  // per-round ratios
  const perRound = (a: string, b: string): Summary | undefined => {
    const xa = samples.get(a)
    const xb = samples.get(b)
    if (xa === undefined || xb === undefined) return undefined
    return summarize(xa.map((x, i) => x / xb[i]))
  }
  const bestOrt = ORT_BATCHES.map((B) => `ort-${B}`).reduce((a, b) => (rates[b].median > rates[a].median ? b : a))
  const ratios: Record<string, Summary> = {}
  const ratioRows: Array<[string, string, string, string]> = [
    ['wasm-simd/plain-js', 'wasm-simd', 'plain-js', ''],
    ['wasm-simd/ort', 'wasm-simd', bestOrt, `onnxruntime at its best batch (${bestOrt.slice(4)})`],
    ['wasm-simd/torch', 'wasm-simd', 'torch', 'aim ≥ 1.5×'],
    ['wasm-relaxed/torch', 'wasm-relaxed', 'torch', 'aim ≥ 2×'],
    ['wasm-relaxed/wasm-simd', 'wasm-relaxed', 'wasm-simd', ''],
    ['wasm-relaxed/ort', 'wasm-relaxed', bestOrt, ''],
    ['ort/torch', bestOrt, 'torch', ''],
  ]
  log('')
  log('ratios of points/s, per round (median, min – max)')
  for (const [name, a, b, note] of ratioRows) {
    const q = perRound(a, b)
    if (q === undefined) continue
    ratios[name] = q
    log(`  ${name.padEnd(34)} ${fmtSummary(q, ratio).padEnd(28)} ${note}`)
  }

  // fraction of peak, per round
  const fractions: Record<string, Record<string, Summary>> = {}
  const flop = { anchor: ANCHOR_FLOP_PER_EVAL, mac: macFlopPerEvaluation(m), folded: foldedMacFlopPerEvaluation(m) }
  const fractionRows: Array<[string, string, string]> = [
    ['wasm-simd of the mul+add peak', 'wasm-simd', 'peak-muladd'],
    ['wasm-relaxed of the fused peak', 'wasm-relaxed', 'peak-madd'],
    ['wasm-relaxed of the mul+add peak', 'wasm-relaxed', 'peak-muladd'],
  ]
  log('')
  log(
    'fraction of the f32x4 peak inside the whole integration loop, per round: ' +
      `points/s × ${EVALS_PER_POINT} × FLOP/eval ÷ peak;\n` +
      `  FLOP/eval ${flop.anchor} (the anchors' count), ${flop.mac} (2 × the layers' multiply-adds), ` +
      `${flop.folded} (the same with the time features folded into the first bias once per stage, as the kernels do)`,
  )
  for (const [name, key, peakKey] of fractionRows) {
    const xs = samples.get(key)
    const peak = samples.get(peakKey)
    if (xs === undefined || peak === undefined) continue
    const f = (perEval: number) => summarize(xs.map((x, i) => (x * EVALS_PER_POINT * perEval) / (peak[i] * 1e9)))
    fractions[name] = { anchor: f(flop.anchor), mac: f(flop.mac), folded: f(flop.folded) }
    const r = fractions[name]
    const others = `${pct(r.mac.median)} | ${pct(r.folded.median)}`
    log(`  ${name.padEnd(34)} ${fmtSummary(r.anchor, pct)} | ${others}   (aim ≥ 45 %)`)
  }

  log('')
  log(`agreement: max |Δx| against plain JavaScript after RK4-${STEPS}, 256 points (f32 rounding only, ≲ 1e-5)`)
  for (const [k, v] of Object.entries(agreement)) log(`  ${k.padEnd(34)} ${v.toExponential(1)}`)

  // Memory: peak resident set of a whole generation (all workers) at growing N; bounded by the
  // chunking, so it should stay flat. --memory adds the 10⁸-point run (~40 s).
  const sizes = opt.quick ? [1e5] : opt.memory ? [1e5, 1e6, 1e7, 1e8] : [1e5, 1e6, 1e7]
  const memory: MemoryPoint[] = []
  log('')
  log('memory: peak resident set of a generation (2 workers, euler 1 step, 4 grids), whole process')
  for (const n of sizes) {
    const p = await measureGeneration(n)
    memory.push(p)
    log(`  N = ${n.toExponential(0).padEnd(6)} ${p.maxRssMiB.toFixed(0).padStart(5)} MiB   (${p.seconds.toFixed(1)} s)`)
  }

  return {
    torch: typeof torch === 'string' ? undefined : { ...torch.info, cpuPerWall: summarize(torchCpuPerWall) },
    solver: { kind: 'rk4', steps: STEPS, evaluationsPerPoint: EVALS_PER_POINT },
    rounds: opt.rounds,
    pointsPerSecond: Object.fromEntries(pointSides.map((s) => [s.key, rates[s.key]])),
    peakGflops: Object.fromEntries(sides.filter((s) => s.unit === 'GFLOP/s').map((s) => [s.key, rates[s.key]])),
    ratios,
    flopPerEvaluation: flop,
    fractionOfPeak: fractions,
    agreement,
    skipped,
    memory,
  }
}

const main = async (argv: readonly string[]): Promise<void> => {
  const opt = parseArgs(argv)
  const m = benchModel(PAPER_SPEC)
  const log = (s: string) => console.log(s)
  log(
    `bayesamp bench: paper model (${parameterCount(m.spec)} parameters), one core; ` +
      `${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, Node.js ${process.version}, ` +
      `load average ${loadavg()[0].toFixed(2)}, relaxed SIMD ${relaxedSimdSupported() ? 'on' : 'off'}`,
  )
  const torch = await startTorch(m)
  let generation: Record<string, unknown> | undefined
  let training: TrainingReport | undefined
  try {
    if (opt.only !== 'training') generation = await generationBench(opt, m, torch, log)
    if (opt.only !== 'generation')
      training = await trainingBench(m, torch, { rounds: opt.rounds, target: opt.quick ? 0.08 : 0.4 }, log)
  } finally {
    if (typeof torch !== 'string') torch.close()
  }

  if (opt.json !== undefined) {
    const doc = {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model,
      cpus: cpus().length,
      node: process.version,
      relaxedSimd: relaxedSimdSupported(),
      model: { spec: m.spec, parameters: parameterCount(m.spec) },
      ...generation,
      training,
    }
    writeFileSync(opt.json, JSON.stringify(doc, null, 1))
    log(`wrote ${opt.json}`)
  }
}

await main(process.argv.slice(2))
