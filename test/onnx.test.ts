/**
 * ONNX export and import (shared/model/onnx.ts) and the onnxruntime evaluator (shared/model/ort.ts).
 *
 * Independent references: the plain f64 TypeScript field (test/reference/mlp.ts), onnxruntime-node,
 * and PyTorch's own outputs stored beside each torch.onnx.export fixture
 * (test/fixtures/torch/make_fixtures.py). The WASM kernel (shared/core/field.ts) is compared with
 * onnxruntime on exported models and with PyTorch on imported ones.
 *
 * Tolerance 1e-5 (absolute, on outputs of size ≲ 5): a float32 forward pass of these widths (≤ 33
 * inputs per unit, ≤ 4 layers) accumulates a relative rounding error of order 33 · 2⁻²⁴ ≈ 2e-6 per
 * layer, and the float32 frequency constants f32(kπ) shift the phase kπt by ≤ 3π · 2⁻²⁴ ≈ 6e-7;
 * a wrong column, sign or frequency changes outputs by ~1e-2 or more.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pkg from 'onnx-proto'
import type { onnx as O } from 'onnx-proto'
import { afterAll, describe, expect, it } from 'vitest'
import { WasmField } from '../shared/core/field.ts'
import { core } from '../shared/core/wasm.ts'
import { exportOnnx, importOnnx, importSummary, readInterface, SPEC_KEY } from '../shared/model/onnx.ts'
import { OrtField } from '../shared/model/ort.ts'
import { type Mlp, type MlpSpec, PAPER_SPEC, inputWidth, mlp, parameterCount } from '../shared/model/spec.ts'
import { fieldRef } from './reference/mlp.ts'

const { onnx } = pkg
const here = dirname(fileURLToPath(import.meta.url))
const FIXTURES = join(here, 'fixtures', 'torch')
const TOL = 1e-5

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** mulberry32: a small seeded generator for test data. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let r = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
  return ((r ^ (r >>> 14)) >>> 0) / 4294967296
}

/** A model with weights ~ U(−1, 1)·√(3/in) (unit-variance pre-activations) and biases ~ U(−0.5, 0.5). */
const randomMlp = (spec: MlpSpec, seed: number): Mlp => {
  const u = rng(seed)
  const widths = [inputWidth(spec), ...spec.hidden, spec.dim]
  const p: number[] = []
  for (let l = 0; l + 1 < widths.length; l++) {
    const s = Math.sqrt(3 / widths[l])
    for (let i = 0; i < widths[l + 1] * widths[l]; i++) p.push((2 * u() - 1) * s)
    for (let i = 0; i < widths[l + 1]; i++) p.push(u() - 0.5)
  }
  return mlp(spec, p)
}

const randomInputs = (n: number, d: number, seed: number) => {
  const u = rng(seed)
  const t = Float32Array.from({ length: n }, () => u())
  t[0] = 0
  t[1] = 1
  const x = Float32Array.from({ length: n * d }, () => 8 * u() - 4)
  return { t, x }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/** The WASM kernel's v(t, x), with the model's memory freed afterwards. */
const wasmField = (m: Mlp, t: number | Float32Array, x: Float32Array): Float32Array => {
  const c = core()
  return c.scoped(() => new WasmField(c, m).evaluate(t, x))
}

const fields: OrtField[] = []
const ortField = async (bytes: Uint8Array, name: string) => {
  const f = await OrtField.create(bytes, name)
  fields.push(f)
  return f
}
afterAll(async () => {
  for (const f of fields) await f.release()
})

/** The dimensions of a value's tensor shape, for editing. */
const dims = (v: O.IValueInfoProto) => v.type!.tensorType!.shape!.dim!

/** Inputs and outputs of a graph, for editing. */
type Io = { input: O.IValueInfoProto[]; output: O.IValueInfoProto[] }

/** Decodes, edits and re-encodes a model, to make files that do not fit. */
const edited = (bytes: Uint8Array, edit: (m: ReturnType<typeof onnx.ModelProto.decode>) => void): Uint8Array => {
  const m = onnx.ModelProto.decode(bytes)
  edit(m)
  return onnx.ModelProto.encode(m).finish()
}

const SPECS: MlpSpec[] = [
  PAPER_SPEC,
  { dim: 3, hidden: [8, 8], activation: 'silu', frequencies: 2 },
  { dim: 2, hidden: [5], activation: 'tanh', frequencies: 0 },
  { dim: 1, hidden: [7, 6, 4], activation: 'relu', frequencies: 4 },
]

// -------------------------------------------------------------------------------------
// export
// -------------------------------------------------------------------------------------

describe('exportOnnx', () => {
  const cases = SPECS.map((s, i) => [i, s] as const)

  it.each(cases)('spec %i: onnxruntime and WASM agree with the f64 reference', async (i, spec) => {
    const m = randomMlp(spec, 10 + i)
    const { t, x } = randomInputs(64, spec.dim, 20 + i)
    const f = await ortField(exportOnnx(m), `export-${i}.onnx`)
    expect(f.dim).toBe(spec.dim)
    const want = fieldRef(m, t, x)
    const got = await f.evaluate(t, x)
    expect(maxAbsDiff(got, want)).toBeLessThan(TOL)
    expect(maxAbsDiff(wasmField(m, t, x), got)).toBeLessThan(TOL)
    // Not a vacuous comparison: the outputs vary between rows by far more than the tolerance.
    expect(Math.max(...want) - Math.min(...want)).toBeGreaterThan(0.1)
    // A single time for all rows.
    const want3 = fieldRef(m, new Float32Array(64).fill(0.3), x)
    const got3 = await f.evaluate(0.3, x)
    expect(maxAbsDiff(got3, want3)).toBeLessThan(TOL)
    expect(maxAbsDiff(wasmField(m, 0.3, x), got3)).toBeLessThan(TOL)
  })

  it.each(cases)('spec %i: import gives back the identical model', (i, spec) => {
    const m = randomMlp(spec, 30 + i)
    const r = importOnnx(exportOnnx(m), `roundtrip-${i}.onnx`)
    expect(r.kind).toBe('mlp')
    if (r.kind !== 'mlp') return
    expect(r.model.spec).toEqual(spec)
    expect(r.model.params).toEqual(m.params)
    expect(r.note).toContain(`hidden [${spec.hidden.join(', ')}]`)
  })

  it('stores the spec, the metadata, the name and the doc string; is deterministic', () => {
    const m = randomMlp(PAPER_SPEC, 1)
    const bytes = exportOnnx(m, { name: 'ring', docString: 'a test', metadata: { seed: '7', [SPEC_KEY]: 'ignored' } })
    expect(exportOnnx(m, { name: 'ring', docString: 'a test', metadata: { seed: '7' } })).toEqual(bytes)
    const p = onnx.ModelProto.decode(bytes)
    const meta = Object.fromEntries(p.metadataProps.map((e) => [e.key!, e.value!]))
    expect(JSON.parse(meta[SPEC_KEY])).toEqual(PAPER_SPEC)
    expect(meta.seed).toBe('7')
    expect(p.graph!.name).toBe('ring')
    expect(p.docString).toBe('a test')
    expect(Number(p.opsetImport[0].version)).toBe(17)
    expect(p.graph!.node!.map((n) => n.opType)).toEqual(
      ['Unsqueeze', 'Mul', 'Cos', 'Sin', 'Concat'].concat(...Array(3).fill(['Gemm', 'Elu']), ['Gemm']),
    )
    expect(readInterface(bytes, 'ring.onnx')).toEqual({ dim: 2, t: 'vector', output: 'v' })
  })

  it('rejects a model whose parameters do not fit its spec', () => {
    const bad = { spec: PAPER_SPEC, params: new Float32Array(parameterCount(PAPER_SPEC) - 1) }
    expect(() => exportOnnx(bad)).toThrow(/2497 parameters, its spec needs 2498/)
  })
})

// -------------------------------------------------------------------------------------
// import of torch.onnx.export files
// -------------------------------------------------------------------------------------

interface Fixture {
  name: string
  expect: 'mlp' | 'graph'
  spec: MlpSpec | null
  ops: string[]
  t: { shape: number[]; values: number[] }
  x: { shape: number[]; values: number[] }
  v: { shape: number[]; values: number[] }
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')))

describe('torch.onnx.export fixtures', () => {
  it('cover the family and the fallback', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(14)
    const ops = new Set(fixtures.flatMap((f) => f.ops))
    const wanted = ['Gemm', 'MatMul', 'Elu', 'Relu', 'Tanh', 'Sigmoid', 'Flatten', 'Reshape', 'Div', 'Expand']
    for (const op of [...wanted, 'Shape', 'Gather', 'Transpose', 'Slice']) expect(ops).toContain(op)
    expect(fixtures.filter((f) => f.expect === 'graph').length).toBeGreaterThanOrEqual(1)
    expect(fixtures.some((f) => f.t.shape.length === 2)).toBe(true)
  })

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (name, fx) => {
    const file = `${name}.onnx`
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, file)))
    const t = Float32Array.from(fx.t.values)
    const x = Float32Array.from(fx.x.values)
    const r = importOnnx(bytes, file)
    expect(r.kind).toBe(fx.expect)
    if (r.kind === 'mlp') {
      expect(r.model.spec).toEqual(fx.spec)
      expect(maxAbsDiff(fieldRef(r.model, t, x), fx.v.values)).toBeLessThan(TOL)
      expect(maxAbsDiff(wasmField(r.model, t, x), fx.v.values)).toBeLessThan(TOL)
      // The imported model exported again: onnxruntime on our file agrees with PyTorch.
      const again = await ortField(exportOnnx(r.model), `${name}-reexported.onnx`)
      expect(maxAbsDiff(await again.evaluate(t, x), fx.v.values)).toBeLessThan(TOL)
    } else {
      expect(r.dim).toBe(fx.x.shape[1])
      expect(r.reason).toMatch(/^node '.+' \(\w+\): .+/)
    }
    const f = await ortField(bytes, file)
    expect(maxAbsDiff(await f.evaluate(t, x), fx.v.values)).toBeLessThan(TOL)
    if (r.kind === 'mlp') {
      // Random inputs: the WASM kernel on the imported model against onnxruntime on the torch file.
      const rnd = randomInputs(256, r.model.spec.dim, 40)
      expect(maxAbsDiff(wasmField(r.model, rnd.t, rnd.x), await f.evaluate(rnd.t, rnd.x))).toBeLessThan(TOL)
    }
  })

  it('the fallback reasons name the node that is outside the family', () => {
    const reason = (n: string) => {
      const r = importOnnx(new Uint8Array(readFileSync(join(FIXTURES, `${n}.onnx`))), `${n}.onnx`)
      return r.kind === 'graph' ? r.reason : ''
    }
    const skip = importOnnx(new Uint8Array(readFileSync(join(FIXTURES, 'skip.onnx'))), 'skip.onnx')
    expect(importSummary(skip, 'skip.onnx')).toMatch(
      /^skip\.onnx: evaluated by onnxruntime \(slower\): not the MLP family: node '\/Add' \(Add\)/,
    )
    expect(reason('skip')).toMatch(/\(Add\): adds a tensor of input features .* to the output of a linear layer/)
    expect(reason('layernorm')).toMatch(
      /\(LayerNormalization\): operator LayerNormalization is not part of the MLP family/,
    )
  })
})

describe('examples/models/ring-cfm.onnx', () => {
  it('imports as the paper model and reproduces PyTorch', async () => {
    const dir = join(here, '..', 'examples', 'models')
    const bytes = new Uint8Array(readFileSync(join(dir, 'ring-cfm.onnx')))
    const io = JSON.parse(readFileSync(join(dir, 'ring-cfm.io.json'), 'utf8'))
    const r = importOnnx(bytes, 'ring-cfm.onnx')
    expect(r.kind).toBe('mlp')
    if (r.kind !== 'mlp') return
    expect(r.model.spec).toEqual(PAPER_SPEC)
    expect(importSummary(r, 'ring-cfm.onnx')).toMatch(
      /^ring-cfm\.onnx: evaluated by the WASM kernel: MLP of the family: d 2, hidden \[32, 32, 32\], elu, K = 3/,
    )
    const t = Float32Array.from(io.inputs.t.values as number[])
    const x = Float32Array.from((io.inputs.x.values as number[][]).flat())
    const v = (io.outputs.v.values as number[][]).flat()
    expect(maxAbsDiff(fieldRef(r.model, t, x), v)).toBeLessThan(TOL)
    expect(maxAbsDiff(wasmField(r.model, t, x), v)).toBeLessThan(TOL)
  })
})

// -------------------------------------------------------------------------------------
// graphs just outside the family, and errors
// -------------------------------------------------------------------------------------

describe('import of hand-written graphs of the family', () => {
  /** A float32 initializer. */
  const init = (name: string, dims: number[], values: number[]) =>
    onnx.TensorProto.create({ name, dims, dataType: 1, floatData: values })
  const node = (opType: string, input: string[], output: string, attribute: O.IAttributeProto[] = []) =>
    onnx.NodeProto.create({ name: output, opType, input, output: [output], attribute })
  const tensorInfo = (name: string, dims: Array<string | number>) => ({
    name,
    type: {
      tensorType: {
        elemType: 1,
        shape: { dim: dims.map((v) => (typeof v === 'string' ? { dimParam: v } : { dimValue: v })) },
      },
    },
  })
  const u = rng(123)
  const values = (n: number) => Array.from({ length: n }, () => 2 * u() - 1)

  // Features [sin(−πt), sin(0·t), cos(−πt), cos(0·t), −x₁, −x₂, t] = [−sin πt, 0, cos πt, 1, −x, t]:
  // a negative and a zero frequency, a constant feature that belongs in the bias, negated and
  // permuted columns; then MatMul − b (Sub), tanh, and a Gemm with alpha 0.5, beta 2, a [1, 2] bias.
  const graph = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'handwritten',
      initializer: [
        onnx.TensorProto.create({ name: 'axes', dims: [1], dataType: 7, int64Data: [-1] }),
        init('freqs', [2], [Math.PI, 0]),
        init('w0', [7, 5], values(35)),
        init('b0', [5], values(5)),
        init('w1', [2, 5], values(10)),
        init('b1', [1, 2], values(2)),
      ],
      node: [
        node('Unsqueeze', ['t', 'axes'], 'tc'),
        node('Neg', ['tc'], 'ntc'),
        node('Mul', ['ntc', 'freqs'], 'phase'),
        node('Sin', ['phase'], 'sin'),
        node('Cos', ['phase'], 'cos'),
        node('Neg', ['x'], 'nx'),
        node('Concat', ['sin', 'cos', 'nx', 'tc'], 'h0', [onnx.AttributeProto.create({ name: 'axis', type: 2, i: 1 })]),
        node('MatMul', ['h0', 'w0'], 'mm'),
        node('Sub', ['mm', 'b0'], 'z0'),
        node('Tanh', ['z0'], 'h1'),
        node('Gemm', ['h1', 'w1', 'b1'], 'v', [
          onnx.AttributeProto.create({ name: 'transB', type: 2, i: 1 }),
          onnx.AttributeProto.create({ name: 'alpha', type: 1, f: 0.5 }),
          onnx.AttributeProto.create({ name: 'beta', type: 1, f: 2 }),
        ]),
      ],
      input: [tensorInfo('t', ['n']), tensorInfo('x', ['n', 2])],
      output: [tensorInfo('v', ['n', 2])],
    },
  }).finish()

  it('imports with the constant feature in the bias and the signs and scales in W', async () => {
    const r = importOnnx(graph, 'handwritten.onnx')
    const want = { dim: 2, hidden: [5], activation: 'tanh', frequencies: 1 }
    expect(r.kind === 'mlp' ? r.model.spec : r.reason).toEqual(want)
    if (r.kind !== 'mlp') return
    expect(r.note).toMatch(/permuted/)
    const { t, x } = randomInputs(64, 2, 50)
    const f = await ortField(graph, 'handwritten.onnx')
    expect(maxAbsDiff(fieldRef(r.model, t, x), await f.evaluate(t, x))).toBeLessThan(TOL)
  })
})

describe('import of graphs outside the family', () => {
  const m = randomMlp({ dim: 2, hidden: [6, 6], activation: 'elu', frequencies: 2 }, 3)
  const bytes = exportOnnx(m)

  it('Elu with alpha ≠ 1 goes to onnxruntime, which still evaluates it', async () => {
    const b = edited(bytes, (p) => {
      p.graph!.node!.find((n) => n.opType === 'Elu')!.attribute![0].f = 0.5
    })
    const r = importOnnx(b, 'alpha.onnx')
    expect(r.kind === 'graph' && r.reason).toMatch(/\(Elu\): Elu with alpha 0\.5/)
    const { t, x } = randomInputs(8, 2, 5)
    const f = await ortField(b, 'alpha.onnx')
    // Negative pre-activations are common here, so alpha 0.5 must change the outputs.
    expect(maxAbsDiff(await f.evaluate(t, x), fieldRef(m, t, x))).toBeGreaterThan(1e-3)
  })

  it('a frequency that is not a whole multiple of π goes to onnxruntime', () => {
    const b = edited(bytes, (p) => {
      const freqs = p.graph!.initializer!.find((i) => i.name === 'freqs')!
      freqs.rawData = new Uint8Array(new Float32Array([Math.PI, 2.5 * Math.PI]).buffer)
    })
    const r = importOnnx(b, 'freq.onnx')
    expect(r.kind === 'graph' && r.reason).toMatch(/\(Cos\): .*2\.5.*not a whole multiple of π/)
  })
})

describe('errors name the file and the problem', () => {
  const good = exportOnnx(randomMlp({ dim: 2, hidden: [4], activation: 'tanh', frequencies: 1 }, 9))
  const u = rng(77)
  const noise = Uint8Array.from({ length: 256 }, () => Math.floor(256 * u()))

  it.each([
    ['random.onnx', noise, /^random\.onnx: not an ONNX model \(/],
    ['empty.onnx', new Uint8Array(0), /^empty\.onnx: not an ONNX model \(the file is empty\)/],
    ['text.onnx', new TextEncoder().encode('hello, this is not a model\n'), /^text\.onnx: not an ONNX model/],
  ])('%s', async (name, bytes, msg) => {
    expect(() => importOnnx(bytes, name)).toThrow(msg)
    await expect(OrtField.create(bytes, name)).rejects.toThrow(msg)
  })

  it.each([
    [
      'renamed.onnx',
      (g: Io) => (g.input[0].name = 'time'),
      /^renamed\.onnx: expected exactly the inputs t and x, found time, x/,
    ],
    [
      'extra.onnx',
      (g: Io) => g.input.push({ ...g.input[1], name: 'y' }),
      /^extra\.onnx: expected exactly the inputs t and x, found t, x, y/,
    ],
    [
      'tshape.onnx',
      (g: Io) => dims(g.input[0]).push({ dimValue: 2 }),
      /^tshape\.onnx: input t must have shape \[batch\] or \[batch, 1\].*has \[batch, 2\]/,
    ],
    [
      'xdyn.onnx',
      (g: Io) => (dims(g.input[1])[1] = { dimParam: 'd' }),
      /^xdyn\.onnx: input x must have shape \[batch, d\] .*has \[batch, d\]/,
    ],
    [
      'fixed.onnx',
      (g: Io) => (dims(g.input[1])[0] = { dimValue: 16 }),
      /^fixed\.onnx: input x must have shape \[batch, d\] with a dynamic batch.*has \[16, 2\]/,
    ],
    [
      'vshape.onnx',
      (g: Io) => (dims(g.output[0])[1] = { dimValue: 3 }),
      /^vshape\.onnx: output v must have shape \[batch, 2\] like x, has \[batch, 3\]/,
    ],
    [
      'double.onnx',
      (g: Io) => (g.input[1].type!.tensorType!.elemType = 11),
      /^double\.onnx: input x must be a float32 tensor, is float64/,
    ],
    [
      'outputs.onnx',
      (g: Io) => g.output.push({ ...g.output[0], name: 'w' }),
      /^outputs\.onnx: expected one output, found 2 \(v, w\)/,
    ],
  ])('%s', async (name, edit, msg) => {
    const bytes = edited(good, (p) => edit(p.graph as Io))
    expect(() => importOnnx(bytes, name)).toThrow(msg)
    await expect(OrtField.create(bytes, name)).rejects.toThrow(msg)
  })

  it('evaluate checks the shapes of its arguments', async () => {
    const f = await ortField(good, 'good.onnx')
    await expect(f.evaluate(0.5, new Float32Array(3))).rejects.toThrow(
      /good\.onnx: x has 3 values, not a multiple of d = 2/,
    )
    await expect(f.evaluate(new Float32Array(3), new Float32Array(4))).rejects.toThrow(
      /good\.onnx: t has 3 values for 2 rows/,
    )
  })
})
