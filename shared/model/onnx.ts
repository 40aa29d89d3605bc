/**
 * Vector fields as ONNX files: export of an `Mlp`, and import of any ONNX file with the interface
 * `t [batch]` (or `[batch, 1]`), `x [batch, d]` → `v [batch, d]`.
 *
 * Import reads a graph of the MLP family (shared/model/spec.ts) into the canonical parameter layout,
 * so that the WASM kernel can evaluate it; it accepts the graphs that `torch.onnx.export` writes for
 * such a model however the features were written (Gemm, or MatMul with or without Add; Elu with
 * alpha 1, Relu, Tanh, z·Sigmoid(z); Sin and Cos of kπ·t for whole k, in any order; Unsqueeze,
 * Squeeze, Reshape, Flatten, Expand, Transpose, Slice, Gather and Concat between them; constant
 * scales and signs of the features; shapes computed from `Shape` of the features; constant
 * subgraphs, which it folds). It works by evaluating the graph symbolically: every value is a
 * constant tensor, a shape (possibly containing the batch size), a tensor of *features* (each element
 * `c · base` with base t, cos kπt, sin kπt, x_j or 1), the output of a linear layer, or a hidden
 * activation. Because every feature element is one term `c · base`, the first linear layer maps onto
 * the canonical feature order exactly: canonical column `base` gets `Σ c · W[:, element]`, elements
 * with base 1 go into the bias (exact when every c is ±1, as in plain exports; otherwise one float32
 * rounding per weight). The batch axis of the features must stay the leading axis throughout. Any
 * graph that does not fit is returned as bytes for onnxruntime, with the node that stopped the match.
 *
 * Protobuf encoding and decoding is onnx-proto's (the ONNX schema compiled by protobufjs).
 */
import pkg from 'onnx-proto'
import type { onnx as O } from 'onnx-proto'
import { type Activation, type Mlp, type MlpSpec, inputWidth, layerOffsets, mlp, parameterCount } from './spec.ts'

const { onnx } = pkg

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Metadata key under which an exported file stores its `MlpSpec` as JSON. */
export const SPEC_KEY = 'bayesamp.spec'

/** Operator set of exported files (onnxruntime 1.30 and torch 1.13 both support it). */
export const OPSET = 17

/** IR version matching opset 17 (ONNX 1.12). */
export const IR_VERSION = 8

export interface ExportOptions {
  /** Graph name (default `bayesamp_vfield`). */
  readonly name?: string
  readonly docString?: string
  /** Extra metadata_props; the key `bayesamp.spec` is reserved for the spec. */
  readonly metadata?: Readonly<Record<string, string>>
}

/**
 * The result of reading an ONNX file: a model of the family (with a note on how it was matched), or
 * a graph to evaluate through onnxruntime (with the reason it is not one).
 */
export type Imported =
  | { kind: 'mlp'; model: Mlp; note: string }
  | { kind: 'graph'; bytes: Uint8Array; dim: number; reason: string }

/** The vector-field interface of a file, as checked by `readInterface`. */
export interface OnnxInterface {
  /** Data dimension `d`. */
  readonly dim: number
  /** Shape of `t`: `[batch]` (`vector`) or `[batch, 1]` (`column`). */
  readonly t: 'vector' | 'column'
  /** Name of the single output. */
  readonly output: string
}

type ModelProto = O.IModelProto
type TensorProto = O.ITensorProto
type NodeProto = O.INodeProto
type AttributeProto = O.IAttributeProto
type ValueInfoProto = O.IValueInfoProto

const FLOAT = 1
const INT32 = 6
const INT64 = 7
const DOUBLE = 11

const DATA_TYPE_NAMES: Record<number, string> = {
  0: 'undefined', 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
  8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
}

// -------------------------------------------------------------------------------------
// export
// -------------------------------------------------------------------------------------

/**
 * Writes `model` as an ONNX file (opset 17): `t [batch]` → Unsqueeze → Mul by `[π, 2π, …, Kπ]` →
 * Cos, Sin → Concat `[t, cos πt … cos Kπt, sin πt … sin Kπt, x]` → (Gemm(transB=1) → activation)… →
 * Gemm → `v [batch, d]`. The features are concatenated in blocks (all cosines, then all sines), so
 * the first layer's columns are stored permuted from the canonical interleaved order; import undoes
 * this exactly (a permutation, no arithmetic). SiLU is written as `z · Sigmoid(z)`. The spec is
 * stored in metadata_props under `bayesamp.spec`.
 */
export const exportOnnx = (model: Mlp, opts: ExportOptions = {}): Uint8Array => {
  const { spec, params } = mlp(model.spec, model.params)
  const K = spec.frequencies
  const d = spec.dim
  const initializer: TensorProto[] = []
  const node: NodeProto[] = []
  let counter = 0
  const add = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []) => {
    node.push(onnx.NodeProto.create({ name: `${opType}_${counter++}`, opType, input, output: [output], attribute }))
    return output
  }
  const floats = (name: string, dims: number[], data: ArrayLike<number>) => {
    initializer.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: f32Bytes(data) }))
    return name
  }
  initializer.push(onnx.TensorProto.create({ name: 'unsqueeze_axes', dims: [1], dataType: INT64, int64Data: [1] }))

  const tCol = add('Unsqueeze', ['t', 'unsqueeze_axes'], 't_col')
  const features = [tCol]
  if (K > 0) {
    const freqs = floats('freqs', [K], Array.from({ length: K }, (_, k) => (k + 1) * Math.PI))
    const phase = add('Mul', [tCol, freqs], 'phase')
    features.push(add('Cos', [phase], 'cos'), add('Sin', [phase], 'sin'))
  }
  features.push('x')
  let h = add('Concat', features, 'features', [intAttr('axis', 1)])

  const layers = layerOffsets(spec)
  layers.forEach((L, l) => {
    const w = params.subarray(L.w, L.w + L.out * L.in)
    const wName = floats(`layer${l}.weight`, [L.out, L.in], l === 0 ? blockColumns(w, L.out, K, d) : w)
    const bName = floats(`layer${l}.bias`, [L.out], params.subarray(L.b, L.b + L.out))
    const last = l === layers.length - 1
    const z = add('Gemm', [h, wName, bName], last ? 'v' : `z${l}`, [intAttr('transB', 1)])
    if (!last) h = activation(add, spec.activation, z, `h${l}`)
  })

  const metadata = Object.entries(opts.metadata ?? {}).filter(([k]) => k !== SPEC_KEY)
  const m = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'bayesamp',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    metadataProps: [
      { key: SPEC_KEY, value: specJson(spec) },
      ...metadata.map(([key, value]) => ({ key, value })),
    ],
    graph: {
      name: opts.name ?? 'bayesamp_vfield',
      node,
      initializer,
      input: [valueInfo('t', ['batch']), valueInfo('x', ['batch', d])],
      output: [valueInfo('v', ['batch', d])],
    },
  })
  return onnx.ModelProto.encode(m).finish()
}

/** Appends the activation of `z` as nodes and returns the name of its output. */
const activation = (
  add: (op: string, input: string[], output: string, attribute?: AttributeProto[]) => string,
  a: Activation,
  z: string,
  out: string,
): string => {
  switch (a) {
    case 'elu':
      return add('Elu', [z], out, [floatAttr('alpha', 1)])
    case 'relu':
      return add('Relu', [z], out)
    case 'tanh':
      return add('Tanh', [z], out)
    case 'silu':
      return add('Mul', [z, add('Sigmoid', [z], `${out}_sigmoid`)], out)
  }
}

/**
 * First-layer weights with columns reordered from the canonical `[t, cos1, sin1, …, x]` to the
 * exported `[t, cos1 … cosK, sin1 … sinK, x]`.
 */
const blockColumns = (w: Float32Array, out: number, K: number, d: number): Float32Array => {
  const n = 1 + 2 * K + d
  const from = Array.from({ length: n }, (_, j) => (j === 0 ? 0 : j <= K ? 2 * j - 1 : j <= 2 * K ? 2 * (j - K) : j))
  const r = new Float32Array(out * n)
  for (let o = 0; o < out; o++) for (let j = 0; j < n; j++) r[o * n + j] = w[o * n + from[j]]
  return r
}

const specJson = (s: MlpSpec): string =>
  JSON.stringify({ dim: s.dim, hidden: [...s.hidden], activation: s.activation, frequencies: s.frequencies })

const intAttr = (name: string, i: number): AttributeProto => onnx.AttributeProto.create({ name, type: 2, i })

const floatAttr = (name: string, f: number): AttributeProto => onnx.AttributeProto.create({ name, type: 1, f })

const valueInfo = (name: string, dims: Array<string | number>): ValueInfoProto =>
  onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((v) => (typeof v === 'string' ? { dimParam: v } : { dimValue: v })) },
      },
    },
  })

/** Little-endian float32 bytes, as TensorProto.raw_data stores them. */
const f32Bytes = (data: ArrayLike<number>): Uint8Array => {
  const bytes = new Uint8Array(4 * data.length)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true)
  return bytes
}

// -------------------------------------------------------------------------------------
// interface
// -------------------------------------------------------------------------------------

/** Decodes the protobuf, failing with a message that names the file when it is not an ONNX model. */
const decode = (bytes: Uint8Array, name: string): ModelProto => {
  if (bytes.length === 0) throw new Error(`${name}: not an ONNX model (the file is empty)`)
  let m: ModelProto
  try {
    m = onnx.ModelProto.decode(bytes)
  } catch (e) {
    throw new Error(`${name}: not an ONNX model (protobuf decoding failed: ${e instanceof Error ? e.message : e})`)
  }
  if (!m.graph) throw new Error(`${name}: not an ONNX model (no graph)`)
  if (toInt(m.irVersion) <= 0) throw new Error(`${name}: not an ONNX model (no IR version)`)
  return m
}

/** A dimension: a number when fixed, a string when symbolic, undefined when unknown. */
type Dim = number | string | undefined

const tensorShape = (v: ValueInfoProto): { elem: number; dims: Dim[] | undefined } => {
  const tt = v.type?.tensorType
  if (!tt) return { elem: -1, dims: undefined }
  const dims = tt.shape
    ? (tt.shape.dim ?? []).map((d): Dim =>
        d.dimParam ? d.dimParam : Object.hasOwn(d, 'dimValue') ? toInt(d.dimValue) : undefined,
      )
    : undefined
  return { elem: tt.elemType ?? 0, dims }
}

const showDims = (dims: Dim[] | undefined): string =>
  dims === undefined ? 'unknown' : `[${dims.map((d) => (d === undefined ? '?' : String(d))).join(', ')}]`

/** Checks the vector-field interface of a decoded model; throws naming the file and what does not fit. */
const checkInterface = (m: ModelProto, name: string): OnnxInterface => {
  const g = m.graph!
  const inits = new Set((g.initializer ?? []).map((i) => i.name))
  const inputs = (g.input ?? []).filter((i) => !inits.has(i.name))
  const names = inputs.map((i) => i.name)
  if (inputs.length !== 2 || !names.includes('t') || !names.includes('x'))
    throw new Error(`${name}: expected exactly the inputs t and x, found ${names.length ? names.join(', ') : 'none'}`)
  const get = (n: string) => tensorShape(inputs.find((i) => i.name === n)!)
  const tt = get('t')
  const xx = get('x')
  for (const [n, s] of [['t', tt], ['x', xx]] as const)
    if (s.elem !== FLOAT)
      throw new Error(
        `${name}: input ${n} must be a float32 tensor, is ${s.elem < 0 ? 'not a tensor' : DATA_TYPE_NAMES[s.elem] ?? s.elem}`,
      )
  const dynamic = (d: Dim) => typeof d !== 'number'
  if (!tt.dims || !(tt.dims.length === 1 || (tt.dims.length === 2 && tt.dims[1] === 1)) || !dynamic(tt.dims[0]))
    throw new Error(
      `${name}: input t must have shape [batch] or [batch, 1] with a dynamic batch, has ${showDims(tt.dims)}`,
    )
  if (!xx.dims || xx.dims.length !== 2 || !dynamic(xx.dims[0]) || typeof xx.dims[1] !== 'number' || xx.dims[1] < 1)
    throw new Error(
      `${name}: input x must have shape [batch, d] with a dynamic batch and a fixed d, has ${showDims(xx.dims)}`,
    )
  const d = xx.dims[1]
  const outs = g.output ?? []
  if (outs.length !== 1)
    throw new Error(
      `${name}: expected one output, found ${outs.length}${outs.length ? ` (${outs.map((o) => o.name).join(', ')})` : ''}`,
    )
  const vv = tensorShape(outs[0])
  if (vv.elem !== FLOAT) throw new Error(`${name}: output ${outs[0].name} must be a float32 tensor`)
  if (!vv.dims || vv.dims.length !== 2 || !dynamic(vv.dims[0]) || vv.dims[1] !== d)
    throw new Error(`${name}: output ${outs[0].name} must have shape [batch, ${d}] like x, has ${showDims(vv.dims)}`)
  return { dim: d, t: tt.dims.length === 1 ? 'vector' : 'column', output: outs[0].name ?? '' }
}

/**
 * Decodes `bytes` and checks the vector-field interface (inputs `t [batch]` or `[batch, 1]` and
 * `x [batch, d]`, one output `[batch, d]`). Throws an error naming `name` and the problem.
 */
export const readInterface = (bytes: Uint8Array, name: string): OnnxInterface =>
  checkInterface(decode(bytes, name), name)

// -------------------------------------------------------------------------------------
// import
// -------------------------------------------------------------------------------------

/**
 * Reads an ONNX vector field. A graph of the MLP family comes back as `kind: 'mlp'` in the canonical
 * layout, any other graph with the right interface as `kind: 'graph'` with the reason (the node and
 * why). Throws, naming `name`, when the bytes are not an ONNX model or the interface does not fit.
 */
export const importOnnx = (bytes: Uint8Array, name: string): Imported => {
  const m = decode(bytes, name)
  const iface = checkInterface(m, name)
  const r = matchMlp(m, iface)
  if (typeof r === 'string') return { kind: 'graph', bytes, dim: iface.dim, reason: r }
  const stored = (m.metadataProps ?? []).find((p) => p.key === SPEC_KEY)?.value
  const notes = [r.note]
  if (stored !== undefined && stored !== specJson(r.model.spec))
    notes.push(`the ${SPEC_KEY} metadata (${stored}) differs from the graph, which was used`)
  return { kind: 'mlp', model: r.model, note: notes.join('; ') }
}

/** The log line for an import: which evaluator the file gets, and why. */
export const importSummary = (r: Imported, name: string): string =>
  r.kind === 'mlp'
    ? `${name}: evaluated by the WASM kernel: ${r.note}`
    : `${name}: evaluated by onnxruntime (slower): not the MLP family: ${r.reason}`

/** One feature element `c · base`; base is `t`, `1`, `x:j`, `cos:k` or `sin:k`. */
interface Term {
  readonly c: number
  readonly base: string
}

interface Layer {
  /** `[out, in]` row-major, in the canonical input order for the first layer. */
  readonly w: Float64Array
  readonly b: Float64Array
  readonly out: number
  readonly in: number
  readonly activation?: Activation
}

/** What a value of the graph is known to be. Shapes of `feat` omit the leading batch axis. */
type Sym =
  | { readonly kind: 'const'; readonly dims: number[]; readonly data: Float64Array }
  | { readonly kind: 'feat'; readonly dims: number[]; readonly terms: Term[] }
  | { readonly kind: 'shape'; readonly dims: number[]; readonly values: Array<number | 'batch'> }
  | { readonly kind: 'linear'; readonly done: Layer[]; readonly top: Layer; readonly K: number }
  | { readonly kind: 'sigmoid'; readonly of: Sym & { kind: 'linear' } }
  | { readonly kind: 'hidden'; readonly done: Layer[]; readonly K: number }
  | { readonly kind: 'opaque'; readonly why: string }

type Const = Sym & { kind: 'const' }

interface Match {
  readonly model: Mlp
  readonly note: string
}

/** Tracks what the match noticed, for the note. */
interface Seen {
  gemm: number
  matmul: number
  permuted: boolean
  scaled: boolean
}

/** Matches the graph against the MLP family: the model, or the reason it is not one. */
const matchMlp = (m: ModelProto, iface: OnnxInterface): Match | string => {
  const g = m.graph!
  const opset = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')
  const version = opset ? toInt(opset.version) : 1
  const env = new Map<string, Sym>()
  for (const init of g.initializer ?? []) {
    const c = constTensor(init)
    env.set(init.name ?? '', typeof c === 'string' ? { kind: 'opaque', why: `initializer '${init.name}': ${c}` } : c)
  }
  env.set('t', { kind: 'feat', dims: iface.t === 'vector' ? [] : [1], terms: [{ c: 1, base: 't' }] })
  const xTerms = Array.from({ length: iface.dim }, (_, j) => ({ c: 1, base: `x:${j}` }))
  env.set('x', { kind: 'feat', dims: [iface.dim], terms: xTerms })

  const order = neededNodes(g.node ?? [], iface.output, env)
  if (typeof order === 'string') return order
  const seen: Seen = { gemm: 0, matmul: 0, permuted: false, scaled: false }
  for (const node of order) {
    const where = `node '${node.name || node.output?.[0]}' (${node.opType})`
    if (node.domain && node.domain !== 'ai.onnx') return `${where}: operator of the custom domain '${node.domain}'`
    const ins: Array<Sym | undefined> = (node.input ?? []).map((n) => (n ? env.get(n) : undefined))
    const opaque = ins.find((s) => s?.kind === 'opaque')
    if (opaque && opaque.kind === 'opaque') return `${where}: ${opaque.why}`
    const r = step(node, ins, version, iface.dim, seen)
    if (typeof r === 'string') return `${where}: ${r}`
    if ((node.output ?? []).length > 1 && node.output!.slice(1).some((o) => o))
      return `${where}: has ${node.output!.length} outputs`
    env.set(node.output![0], r)
  }
  const out = env.get(iface.output)!
  if (out.kind !== 'linear') return `the output ${iface.output} is ${describe(out)}, not the output of a linear layer`
  if (out.done.length === 0) return 'the graph has a single linear layer and no hidden layer'
  const activations = new Set(out.done.map((L) => L.activation!))
  if (activations.size > 1) return `the hidden layers mix activations (${[...activations].join(', ')})`
  if (out.top.out !== iface.dim) return `the last linear layer has ${out.top.out} outputs, x has ${iface.dim} columns`
  const spec: MlpSpec = {
    dim: iface.dim,
    hidden: out.done.map((L) => L.out),
    activation: out.done[0].activation!,
    frequencies: out.K,
  }
  const layers = [...out.done, out.top]
  const params = new Float32Array(parameterCount(spec))
  const offsets = layerOffsets(spec)
  for (let l = 0; l < layers.length; l++) {
    const L = layers[l]
    const o = offsets[l]
    if (L.in !== o.in || L.out !== o.out)
      return `linear layer ${l} is [${L.out}, ${L.in}], the family needs [${o.out}, ${o.in}] at that place`
    params.set(L.w, o.w)
    params.set(L.b, o.b)
  }
  const how = [
    seen.gemm && `${seen.gemm} Gemm`,
    seen.matmul && `${seen.matmul} MatMul (+ Add)`,
    seen.permuted && 'first-layer columns permuted to the canonical feature order',
    seen.scaled && 'constant feature scales folded into the first layer',
  ].filter(Boolean)
  const note =
    `MLP of the family: d ${spec.dim}, hidden [${spec.hidden.join(', ')}], ${spec.activation}, ` +
    `K = ${spec.frequencies} time frequencies (${how.join('; ')})`
  return { model: mlp(spec, params), note }
}

/**
 * The nodes the output depends on, in topological order (Kahn's algorithm, ties broken by position in
 * the file), or why the graph cannot be ordered.
 */
const neededNodes = (nodes: NodeProto[], output: string, env: Map<string, Sym>): NodeProto[] | string => {
  const producer = new Map<string, number>()
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)))
  const needed = new Set<number>()
  const stack = [output]
  while (stack.length) {
    const v = stack.pop()!
    const p = producer.get(v)
    if (p === undefined) {
      if (!env.has(v)) return `value '${v}' is neither produced by a node nor an input or initializer`
      continue
    }
    if (needed.has(p)) continue
    needed.add(p)
    for (const i of nodes[p].input ?? []) if (i) stack.push(i)
  }
  const waiting = new Map<number, number>()
  const users = new Map<number, number[]>()
  for (const i of needed) {
    const deps = new Set((nodes[i].input ?? []).map((n) => producer.get(n)).filter((p): p is number => p !== undefined))
    waiting.set(i, deps.size)
    for (const p of deps) users.set(p, [...(users.get(p) ?? []), i])
  }
  const ready = [...needed].filter((i) => waiting.get(i) === 0).sort((a, b) => a - b)
  const order: NodeProto[] = []
  while (ready.length) {
    const i = ready.shift()!
    order.push(nodes[i])
    for (const u of users.get(i) ?? []) {
      const w = waiting.get(u)! - 1
      waiting.set(u, w)
      if (w === 0) {
        // Keep the file's order among ready nodes, so that reasons name the first offending node.
        let at = 0
        while (at < ready.length && ready[at] < u) at++
        ready.splice(at, 0, u)
      }
    }
  }
  if (order.length !== needed.size) return 'the graph has a cycle'
  return order
}

const describe = (s: Sym): string => {
  switch (s.kind) {
    case 'const':
      return `a constant of shape [${s.dims.join(', ')}]`
    case 'feat':
      return `a tensor of input features of shape [batch${s.dims.map((d) => `, ${d}`).join('')}]`
    case 'shape':
      return `a shape [${s.values.join(', ')}]`
    case 'linear':
      return 'the output of a linear layer'
    case 'sigmoid':
      return 'the sigmoid of a linear layer'
    case 'hidden':
      return 'a hidden activation'
    case 'opaque':
      return s.why
  }
}

// -------------------------------------------------------------------------------------
// symbolic evaluation of one node
// -------------------------------------------------------------------------------------

/** The value of a node's (first) output, or why the node does not fit the family. */
const step = (node: NodeProto, ins: Array<Sym | undefined>, opset: number, d: number, seen: Seen): Sym | string => {
  const op = node.opType ?? ''
  const attrs = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]))
  const [a, b] = ins
  const arg = (i: number): Sym | string => ins[i] ?? `input ${i} is missing`
  switch (op) {
    case 'Constant':
      return constantNode(attrs)
    case 'Identity':
      return arg(0)
    case 'Cast': {
      const to = toInt(attrs.get('to')?.i)
      const x = arg(0)
      if (typeof x === 'string') return x
      const toInteger = to === INT64 || to === INT32
      if (x.kind === 'const') return to === FLOAT ? mapConst(x, Math.fround) : toInteger ? mapConst(x, Math.trunc) : x
      if (x.kind === 'shape') return toInteger ? x : `casts ${describe(x)} to ${DATA_TYPE_NAMES[to] ?? to}`
      return to === FLOAT ? x : `casts ${describe(x)} to ${DATA_TYPE_NAMES[to] ?? to}`
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      // Axes are an input from opset 13, an attribute before.
      const axes =
        opset >= 13 ? (b ? constInts(b) : op === 'Squeeze' ? undefined : 'axes are missing') : attrInts(attrs, 'axes')
      if (typeof axes === 'string') return axes
      return op === 'Unsqueeze'
        ? shapeOp(arg(0), (dims) => unsqueezeDims(dims, axes!))
        : shapeOp(arg(0), (dims) => squeezeDims(dims, axes))
    }
    case 'Reshape': {
      const target = shapeTarget(b)
      if (typeof target === 'string') return target
      const allowZero = toInt(attrs.get('allowzero')?.i) === 1
      return shapeOp(arg(0), (dims, B) => {
        const shape = target(B)
        return typeof shape === 'string' ? shape : reshapeDims(dims, shape, allowZero)
      })
    }
    case 'Flatten': {
      const axis = attrs.has('axis') ? toInt(attrs.get('axis')!.i) : 1
      return shapeOp(arg(0), (dims) => {
        const ax = axis < 0 ? axis + dims.length : axis
        if (ax < 0 || ax > dims.length) return `axis ${axis} is out of range`
        return [size(dims.slice(0, ax)), size(dims.slice(ax))]
      })
    }
    case 'Expand': {
      const target = shapeTarget(b)
      if (typeof target === 'string') return target
      return broadcastOp(arg(0), target)
    }
    case 'Shape':
      return shapeOfOp(
        arg(0),
        attrs.has('start') ? toInt(attrs.get('start')!.i) : 0,
        attrs.has('end') ? toInt(attrs.get('end')!.i) : undefined,
      )
    case 'Gather': {
      const idx = b?.kind === 'const' ? b : undefined
      if (!idx) return `the indices are ${b ? describe(b) : 'missing'}, not a constant`
      if (idx.dims.length > 1) return `indices of shape [${idx.dims}]`
      return takeOp(arg(0), toInt(attrs.get('axis')?.i), Array.from(idx.data), idx.dims.length === 1)
    }
    case 'Slice':
      return sliceOp(arg(0), ins.slice(1), attrs, opset)
    case 'ConstantOfShape': {
      const shape = a?.kind === 'const' ? Array.from(a.data) : undefined
      if (!shape) return `the shape is ${a ? describe(a) : 'missing'}, not a constant`
      const t = attrs.get('value')?.t
      const v = t ? constTensor(t) : { kind: 'const' as const, dims: [1], data: Float64Array.of(0) }
      if (typeof v === 'string') return v
      return { kind: 'const', dims: shape, data: new Float64Array(size(shape)).fill(v.data[0]) }
    }
    case 'Equal':
    case 'Where': {
      const cs = ins.filter((s): s is Const => s?.kind === 'const')
      if (cs.length !== ins.length || cs.length !== (op === 'Equal' ? 2 : 3))
        return `${op} of values that are not all constants`
      if (op === 'Equal') return constBinary(cs[0], cs[1], (p, q) => (p === q ? 1 : 0))
      const ab = broadcastDims(cs[1].dims, cs[2].dims)
      const dims = typeof ab === 'string' ? ab : broadcastDims(cs[0].dims, ab)
      if (typeof dims === 'string') return dims
      const [ic, ia, ib] = [cs[0], cs[1], cs[2]].map((c) => broadcastIndex(dims, c.dims))
      const data = Float64Array.from(ic, (i, n) => (cs[0].data[i] ? cs[1].data[ia[n]] : cs[2].data[ib[n]]))
      return { kind: 'const', dims, data }
    }
    case 'Transpose':
      return transposeOp(arg(0), attrs.has('perm') ? attrInts(attrs, 'perm') : undefined)
    case 'Concat':
      return concatOp(ins, toInt(attrs.get('axis')?.i))
    case 'Sin':
    case 'Cos':
      return trigOp(arg(0), op)
    case 'Neg':
      return scaleOp(arg(0), { kind: 'const', dims: [], data: Float64Array.of(-1) }, (p, q) => p * q, seen)
    case 'Mul':
    case 'Div':
      return mulOp(op, arg(0), arg(1), seen)
    case 'Add':
    case 'Sub':
      return addOp(op, arg(0), arg(1))
    case 'Gemm': {
      if (toInt(attrs.get('transA')?.i) !== 0) return 'transA = 1 is not a linear layer of the batch'
      const alpha = attrs.has('alpha') ? attrs.get('alpha')!.f ?? 1 : 1
      const beta = attrs.has('beta') ? attrs.get('beta')!.f ?? 1 : 1
      seen.gemm++
      return linearOp(arg(0), arg(1), ins[2], toInt(attrs.get('transB')?.i) === 1, alpha, beta, d, seen)
    }
    case 'MatMul':
      seen.matmul++
      return linearOp(arg(0), arg(1), undefined, false, 1, 1, d, seen)
    case 'Elu': {
      const alpha = attrs.has('alpha') ? attrs.get('alpha')!.f ?? 1 : 1
      if (alpha !== 1) return `Elu with alpha ${fmt(alpha)}; the family's ELU has alpha 1`
      return activate(arg(0), 'elu')
    }
    case 'Relu':
      return activate(arg(0), 'relu')
    case 'Tanh':
      return activate(arg(0), 'tanh')
    case 'Sigmoid': {
      const x = arg(0)
      if (typeof x === 'string') return x
      if (x.kind !== 'linear') return `the sigmoid of ${describe(x)}`
      return { kind: 'sigmoid', of: x }
    }
    default:
      return `operator ${op} is not part of the MLP family`
  }
}

/** Values of a Constant node. */
const constantNode = (attrs: Map<string, AttributeProto>): Sym | string => {
  const t = attrs.get('value')?.t
  if (t) return constTensor(t)
  if (attrs.has('value_float'))
    return { kind: 'const', dims: [], data: Float64Array.of(attrs.get('value_float')!.f ?? 0) }
  if (attrs.has('value_floats')) {
    const v = attrs.get('value_floats')!.floats ?? []
    return { kind: 'const', dims: [v.length], data: Float64Array.from(v) }
  }
  if (attrs.has('value_int'))
    return { kind: 'const', dims: [], data: Float64Array.of(toInt(attrs.get('value_int')!.i)) }
  if (attrs.has('value_ints')) {
    const v = (attrs.get('value_ints')!.ints ?? []).map(toInt)
    return { kind: 'const', dims: [v.length], data: Float64Array.from(v) }
  }
  return `a Constant with ${[...attrs.keys()].join(', ') || 'no value'}`
}

/** Applies a shape change (given on full dims, batch first) to a constant or a feature tensor. */
const shapeOp = (x: Sym | string, f: (dims: number[], B: number | undefined) => number[] | string): Sym | string => {
  if (typeof x === 'string') return x
  if (x.kind === 'const' || x.kind === 'shape') {
    const dims = f(x.dims, undefined)
    if (typeof dims === 'string') return dims
    const n = x.kind === 'const' ? x.data.length : x.values.length
    if (size(dims) !== n) return `reshapes ${n} values into [${dims.join(', ')}]`
    return { ...x, dims }
  }
  if (x.kind !== 'feat') return `changes the shape of ${describe(x)}`
  // The batch axis is probed with two different sizes: it must stay the leading axis, alone.
  const n = size(x.dims)
  const probe = [2, 3].map((B) => f([B, ...x.dims], B))
  const bad = probe.find((p): p is string => typeof p === 'string')
  if (bad !== undefined) return bad
  const [p2, p3] = probe as number[][]
  const rows = p2.slice(1)
  if (p2.length < 1 || p2[0] !== 2 || p3[0] !== 3 || rows.join() !== p3.slice(1).join() || size(rows) !== n)
    return 'moves or merges the batch axis of the features'
  return { kind: 'feat', dims: p2.slice(1), terms: x.terms }
}

const unsqueezeDims = (dims: number[], axes: number[]): number[] | string => {
  const rank = dims.length + axes.length
  const norm = axes.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q)
  if (norm.some((a) => a < 0 || a >= rank) || new Set(norm).size !== norm.length) return `invalid axes [${axes}]`
  const r = [...dims]
  for (const a of norm) r.splice(a, 0, 1)
  return r
}

const squeezeDims = (dims: number[], axes: number[] | undefined): number[] | string => {
  if (axes === undefined) return 'Squeeze without axes'
  const norm = new Set(axes.map((a) => (a < 0 ? a + dims.length : a)))
  for (const a of norm) if (dims[a] !== 1) return `squeezes axis ${a} of size ${dims[a]}`
  return dims.filter((_, i) => !norm.has(i))
}

const reshapeDims = (dims: number[], shape: number[], allowZero: boolean): number[] | string => {
  const r = shape.map((s, i) => (s === 0 && !allowZero ? dims[i] : s))
  if (r.some((s) => s === undefined || s < -1)) return `invalid shape [${shape}]`
  const free = r.filter((s) => s === -1).length
  if (free > 1) return `shape [${shape}] has more than one -1`
  if (free === 1) {
    const known = size(r.filter((s) => s !== -1))
    if (known === 0 || size(dims) % known !== 0) return `cannot infer the -1 in [${shape}]`
    r[r.indexOf(-1)] = size(dims) / known
  }
  return r
}

/**
 * Expand: numpy broadcasting of `x` to the target shape. A batch size in the target is resolved to 1
 * for features, which broadcasting keeps at the batch size.
 */
const broadcastOp = (x: Sym | string, target: ShapeTarget): Sym | string => {
  if (typeof x === 'string') return x
  const shape = target(x.kind === 'feat' ? 1 : undefined)
  if (typeof shape === 'string') return shape
  if (x.kind === 'const') {
    const dims = broadcastDims(x.dims, shape)
    if (typeof dims === 'string') return dims
    const idx = broadcastIndex(dims, x.dims)
    return { kind: 'const', dims, data: Float64Array.from(idx, (i) => x.data[i]) }
  }
  if (x.kind !== 'feat') return `expands ${describe(x)}`
  const rest = alignRows(shape, x.dims.length)
  if (typeof rest === 'string') return rest
  const dims = broadcastDims(x.dims, rest)
  if (typeof dims === 'string') return dims
  const idx = broadcastIndex(dims, x.dims)
  return { kind: 'feat', dims, terms: Array.from(idx, (i) => x.terms[i]) }
}

/**
 * The per-row part of a constant shape broadcast against features of per-row rank `rowRank`: the
 * shape must not reach past the batch axis, and its entry at the batch axis must be 1.
 */
const alignRows = (shape: number[], rowRank: number): number[] | string => {
  if (shape.length <= rowRank) return shape
  if (shape.length === rowRank + 1 && shape[0] === 1) return shape.slice(1)
  return `broadcasts the features against [${shape}], which reaches the batch axis`
}

const transposeOp = (x: Sym | string, perm: number[] | string | undefined): Sym | string => {
  if (typeof x === 'string') return x
  if (typeof perm === 'string') return perm
  if (x.kind === 'const') {
    const p = perm ?? x.dims.map((_, i) => x.dims.length - 1 - i)
    const idx = transposeIndex(x.dims, p)
    return { kind: 'const', dims: p.map((i) => x.dims[i]), data: Float64Array.from(idx, (i) => x.data[i]) }
  }
  if (x.kind !== 'feat') return `transposes ${describe(x)}`
  const p = perm ?? [x.dims.length, ...x.dims.map((_, i) => x.dims.length - 1 - i)]
  if (p[0] !== 0) return 'moves the batch axis of the features'
  const rp = p.slice(1).map((i) => i - 1)
  const idx = transposeIndex(x.dims, rp)
  return { kind: 'feat', dims: rp.map((i) => x.dims[i]), terms: Array.from(idx, (i) => x.terms[i]) }
}

const concatOp = (ins: Array<Sym | undefined>, axis: number): Sym | string => {
  if (ins.some((s) => s === undefined)) return 'an input is missing'
  const xs = ins as Sym[]
  if (xs.every((s) => s.kind === 'const')) {
    const cs = xs as Const[]
    const r = concatItems(cs.map((c) => ({ dims: c.dims, items: Array.from(c.data) })), axis)
    return typeof r === 'string' ? r : { kind: 'const', dims: r.dims, data: Float64Array.from(r.items) }
  }
  if (xs.every((s) => s.kind === 'const' || s.kind === 'shape')) {
    const parts = xs.map((s) => ({
      dims: s.dims,
      items: s.kind === 'shape' ? s.values : Array.from((s as Const).data),
    }))
    const r = concatItems<number | 'batch'>(parts, axis)
    return typeof r === 'string' ? r : { kind: 'shape', dims: r.dims, values: r.items }
  }
  const bad = xs.find((s) => s.kind !== 'feat')
  if (bad) return `concatenates ${describe(bad)} with input features`
  const fs = xs as Array<Sym & { kind: 'feat' }>
  const rank = fs[0].dims.length + 1
  const ax = axis < 0 ? axis + rank : axis
  if (ax === 0) return 'concatenates along the batch axis'
  const r = concatItems(fs.map((f) => ({ dims: f.dims, items: f.terms })), ax - 1)
  return typeof r === 'string' ? r : { kind: 'feat', dims: r.dims, terms: r.items }
}

/** A shape argument, resolved for a batch size (undefined when the operand has no batch axis). */
type ShapeTarget = (B: number | undefined) => number[] | string

/** The shape argument of Reshape or Expand: a constant, or a shape built from the features' Shape. */
const shapeTarget = (s: Sym | undefined): ShapeTarget | string => {
  if (s === undefined) return 'the shape is missing'
  if (s.kind === 'const') return () => Array.from(s.data)
  if (s.kind !== 'shape') return `a shape argument that is ${describe(s)}`
  return (B) =>
    B === undefined && s.values.includes('batch')
      ? 'applies a shape that depends on the batch size to a constant'
      : s.values.map((v) => (v === 'batch' ? B! : v))
}

/** Shape: `[batch, …]` of features (symbolic in the batch), the dims of a constant. */
const shapeOfOp = (x: Sym | string, start: number, end: number | undefined): Sym | string => {
  if (typeof x === 'string') return x
  const full: Array<number | 'batch'> | undefined =
    x.kind === 'const' || x.kind === 'shape' ? x.dims : x.kind === 'feat' ? ['batch', ...x.dims] : undefined
  if (!full) return `the shape of ${describe(x)}`
  const r = full.length
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r)
  const values = full.slice(clamp(start), end === undefined ? r : clamp(end))
  if (values.every((v): v is number => typeof v === 'number'))
    return { kind: 'const', dims: [values.length], data: Float64Array.from(values) }
  return { kind: 'shape', dims: [values.length], values }
}

/** Elements of a constant, shape or feature tensor along one axis (full axes, batch first for features). */
const takeOp = (x: Sym | string, axis: number, indices: number[], keep: boolean): Sym | string => {
  if (typeof x === 'string') return x
  if (x.kind !== 'const' && x.kind !== 'shape' && x.kind !== 'feat') return `selects elements of ${describe(x)}`
  const off = x.kind === 'feat' ? 1 : 0
  const rank = x.dims.length + off
  const ax = axis < 0 ? axis + rank : axis
  if (ax < 0 || ax >= rank) return `axis ${axis} is out of range`
  if (ax < off) return 'selects along the batch axis of the features'
  const n = x.dims[ax - off]
  const idx = indices.map((i) => (i < 0 ? i + n : i))
  if (idx.some((i) => i < 0 || i >= n)) return `indices [${indices}] are out of range for an axis of ${n}`
  const t = takeIndex(x.dims, ax - off, idx, keep)
  if (x.kind === 'const') return { kind: 'const', dims: t.dims, data: Float64Array.from(t.map, (i) => x.data[i]) }
  if (x.kind === 'feat') return { kind: 'feat', dims: t.dims, terms: Array.from(t.map, (i) => x.terms[i]) }
  const values = Array.from(t.map, (i) => x.values[i])
  return values.every((v): v is number => typeof v === 'number')
    ? { kind: 'const', dims: t.dims, data: Float64Array.from(values) }
    : { kind: 'shape', dims: t.dims, values }
}

/** Slice with constant starts, ends, axes and steps (inputs from opset 10, attributes before). */
const sliceOp = (
  x: Sym | string,
  args: Array<Sym | undefined>,
  attrs: Map<string, AttributeProto>,
  opset: number,
): Sym | string => {
  if (typeof x === 'string') return x
  const list = (i: number, name: string): number[] | undefined | string => {
    if (opset < 10) return attrs.has(name) ? attrInts(attrs, name) : undefined
    const s = args[i]
    return s === undefined ? undefined : constInts(s)
  }
  const [starts, ends, axes0, steps0] = [list(0, 'starts'), list(1, 'ends'), list(2, 'axes'), list(3, 'steps')]
  for (const l of [starts, ends, axes0, steps0]) if (typeof l === 'string') return l
  if (!Array.isArray(starts) || !Array.isArray(ends)) return 'starts or ends are missing'
  const axes = (axes0 as number[] | undefined) ?? starts.map((_, i) => i)
  const steps = (steps0 as number[] | undefined) ?? starts.map(() => 1)
  const off = x.kind === 'feat' ? 1 : 0
  if (x.kind !== 'const' && x.kind !== 'shape' && x.kind !== 'feat') return `slices ${describe(x)}`
  const rank = x.dims.length + off
  let r: Sym | string = x
  for (let j = 0; j < axes.length; j++) {
    const ax = axes[j] < 0 ? axes[j] + rank : axes[j]
    const step = steps[j]
    if (step === 0) return 'a slice step of 0'
    if (ax < off) {
      // The batch axis may only be taken whole.
      if (!(starts[j] === 0 && step === 1 && ends[j] >= 2 ** 31 - 1)) return 'slices the batch axis of the features'
      continue
    }
    if (typeof r === 'string') return r
    const n = (r as Sym & { dims: number[] }).dims[ax - off]
    // ONNX Slice: negative starts and ends count from the end, then clamp to the axis.
    const norm = (v: number) => (v < 0 ? v + n : v)
    const idx: number[] = []
    if (step > 0) {
      const s0 = Math.min(Math.max(norm(starts[j]), 0), n)
      const e0 = Math.min(Math.max(norm(ends[j]), 0), n)
      for (let i = s0; i < e0; i += step) idx.push(i)
    } else {
      const s0 = Math.min(Math.max(norm(starts[j]), 0), n - 1)
      const e0 = Math.min(Math.max(norm(ends[j]), -1), n - 1)
      for (let i = s0; i > e0; i += step) idx.push(i)
    }
    r = takeOp(r, ax, idx, true)
  }
  return r
}

/** Tolerance on k when recovering a frequency kπ from a float32 constant: f32 rounding is ~1e-7·k. */
const FREQ_TOL = 1e-5

const trigOp = (x: Sym | string, op: 'Sin' | 'Cos'): Sym | string => {
  if (typeof x === 'string') return x
  if (x.kind === 'const') return mapConst(x, op === 'Sin' ? Math.sin : Math.cos)
  if (x.kind !== 'feat') return `${op} of ${describe(x)}`
  const terms: Term[] = []
  for (const term of x.terms) {
    if (term.base !== 't')
      return `${op} of ${term.base === '1' ? 'a constant' : term.base} rather than of a multiple of t`
    const k = term.c / Math.PI
    const kr = Math.round(k)
    if (Math.abs(k - kr) > FREQ_TOL * Math.max(1, Math.abs(k)))
      return `${op} of ${fmt(term.c)}·t: ${fmt(k)}·π is not a whole multiple of π`
    // sin(−kπt) = −sin(kπt), cos(−kπt) = cos(kπt); sin 0 = 0, cos 0 = 1.
    if (kr === 0) terms.push({ c: op === 'Sin' ? 0 : 1, base: '1' })
    else terms.push({ c: op === 'Sin' ? Math.sign(kr) : 1, base: `${op.toLowerCase()}:${Math.abs(kr)}` })
  }
  return { kind: 'feat', dims: x.dims, terms }
}

/** Multiplies features by a broadcast constant (`f` combines a coefficient and a constant). */
const scaleOp = (x: Sym | string, c: Sym | string, f: (p: number, q: number) => number, seen: Seen): Sym | string => {
  if (typeof x === 'string') return x
  if (typeof c === 'string') return c
  if (x.kind === 'const' && c.kind === 'const') return constBinary(x, c, f)
  if (x.kind !== 'feat' || c.kind !== 'const') return `multiplies ${describe(x)} by ${describe(c)}`
  const rest = alignRows(c.dims, x.dims.length)
  if (typeof rest === 'string') return rest
  const dims = broadcastDims(x.dims, rest)
  if (typeof dims === 'string') return dims
  const ix = broadcastIndex(dims, x.dims)
  const ic = broadcastIndex(dims, rest)
  const terms = Array.from(ix, (i, n) => ({ c: f(x.terms[i].c, c.data[ic[n]]), base: x.terms[i].base }))
  if (terms.some((t) => t.base !== 't' && t.c !== 1)) seen.scaled = true
  return { kind: 'feat', dims, terms }
}

const mulOp = (op: 'Mul' | 'Div', a: Sym | string, b: Sym | string, seen: Seen): Sym | string => {
  if (typeof a === 'string') return a
  if (typeof b === 'string') return b
  if (op === 'Mul') {
    // SiLU: z · Sigmoid(z), either operand order.
    if (a.kind === 'linear' && b.kind === 'sigmoid' && b.of === a) return activate(a, 'silu')
    if (b.kind === 'linear' && a.kind === 'sigmoid' && a.of === b) return activate(b, 'silu')
    if (a.kind === 'const' && b.kind === 'feat') return scaleOp(b, a, (p, q) => p * q, seen)
    return scaleOp(a, b, (p, q) => p * q, seen)
  }
  if (a.kind === 'const' && b.kind === 'const') return constBinary(a, b, (p, q) => p / q)
  return scaleOp(a, b, (p, q) => p / q, seen)
}

const addOp = (op: 'Add' | 'Sub', a: Sym | string, b: Sym | string): Sym | string => {
  if (typeof a === 'string') return a
  if (typeof b === 'string') return b
  const sign = op === 'Add' ? 1 : -1
  if (a.kind === 'const' && b.kind === 'const') return constBinary(a, b, (p, q) => p + sign * q)
  const [lin, c] = a.kind === 'linear' ? [a, b] : op === 'Add' && b.kind === 'linear' ? [b, a] : [undefined, undefined]
  if (!lin || !c || c.kind !== 'const')
    return `${op === 'Add' ? 'adds' : 'subtracts'} ${describe(b)} ${op === 'Add' ? 'to' : 'from'} ${describe(a)}`
  const bias = rowVector(c, lin.top.out)
  if (typeof bias === 'string') return bias
  const nb = Float64Array.from(lin.top.b, (v, i) => v + sign * bias[i])
  return { ...lin, top: { ...lin.top, b: nb } }
}

/** A constant that broadcasts to one row of width `n` (shapes [], [1], [n], [1, n], …). */
const rowVector = (c: Const, n: number): Float64Array | string => {
  const lead = c.dims.slice(0, -1)
  const last = c.dims.length ? c.dims[c.dims.length - 1] : 1
  if (lead.some((v) => v !== 1) || (last !== 1 && last !== n))
    return `a bias of shape [${c.dims}] for a layer of width ${n}`
  return last === n ? c.data : new Float64Array(n).fill(c.data[0])
}

/**
 * A linear layer `A · op(B) · alpha + beta · C`. On features, the weights are mapped onto the
 * canonical inputs: column `base` of W₁ is `Σ c · W[:, element]` over the elements `c · base`, and
 * elements with base 1 go into the bias.
 */
const linearOp = (
  a: Sym | string,
  bm: Sym | string,
  cm: Sym | undefined,
  transB: boolean,
  alpha: number,
  beta: number,
  d: number,
  seen: Seen,
): Sym | string => {
  if (typeof a === 'string') return a
  if (typeof bm === 'string') return bm
  if (bm.kind !== 'const' || bm.dims.length !== 2) return `the weight is ${describe(bm)}, not a constant matrix`
  const [out, inp] = transB ? bm.dims : [bm.dims[1], bm.dims[0]]
  const wAt = (o: number, i: number) => alpha * bm.data[transB ? o * inp + i : i * out + o]
  let b = new Float64Array(out)
  if (cm !== undefined) {
    if (cm.kind !== 'const') return `the bias is ${describe(cm)}`
    const c = rowVector(cm, out)
    if (typeof c === 'string') return c
    b = Float64Array.from(c, (v) => beta * v)
  }
  if (a.kind === 'hidden') {
    const w = new Float64Array(out * inp)
    const width = a.done[a.done.length - 1].out
    if (width !== inp) return `a layer of ${inp} inputs after a hidden layer of width ${width}`
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) w[o * inp + i] = wAt(o, i)
    return { kind: 'linear', done: a.done, top: { w, b, out, in: inp }, K: a.K }
  }
  if (a.kind !== 'feat') return `the input of a linear layer is ${describe(a)}`
  if (a.dims.length !== 1) return `a linear layer on features of shape [batch, ${a.dims.join(', ')}]`
  if (a.dims[0] !== inp) return `a weight for ${inp} inputs applied to ${a.dims[0]} features`
  let K = 0
  for (const t of a.terms)
    if (t.base.startsWith('cos:') || t.base.startsWith('sin:')) K = Math.max(K, Number(t.base.slice(4)))
  const width = inputWidth({ dim: d, hidden: [1], activation: 'relu', frequencies: K })
  const column = (base: string): number => {
    if (base === 't') return 0
    const [kind, n] = base.split(':')
    const k = Number(n)
    return kind === 'x' ? 1 + 2 * K + k : kind === 'cos' ? 2 * k - 1 : 2 * k
  }
  const w = new Float64Array(out * width)
  a.terms.forEach((term, e) => {
    if (term.base === '1') {
      for (let o = 0; o < out; o++) b[o] += term.c * wAt(o, e)
      return
    }
    const j = column(term.base)
    if (j !== e) seen.permuted = true
    for (let o = 0; o < out; o++) w[o * width + j] += term.c * wAt(o, e)
  })
  return { kind: 'linear', done: [], top: { w, b, out, in: width }, K }
}

const activate = (x: Sym | string, activation: Activation): Sym | string => {
  if (typeof x === 'string') return x
  if (x.kind !== 'linear') return `${activation} of ${describe(x)}`
  return { kind: 'hidden', done: [...x.done, { ...x.top, activation }], K: x.K }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** An int64 field of a decoded message (a number or a Long) as a number. */
const toInt = (v: number | { toNumber(): number } | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber()

/** A number for messages, to 7 significant digits (float32 precision). */
const fmt = (v: number): string => String(Number(v.toPrecision(7)))

const size = (dims: readonly number[]): number => dims.reduce((p, q) => p * q, 1)

/** The values of a numeric TensorProto, or what prevents reading them. */
const constTensor = (t: TensorProto): Const | string => {
  const dims = (t.dims ?? []).map(toInt)
  const n = size(dims)
  if (t.dataLocation === 1) return 'stored as external data'
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined
  const type = t.dataType ?? 0
  const width = { [FLOAT]: 4, [DOUBLE]: 8, [INT32]: 4, [INT64]: 8 }[type]
  if (width === undefined) return `a tensor of type ${DATA_TYPE_NAMES[type] ?? type}`
  let data: Float64Array
  if (raw) {
    if (raw.length !== n * width) return `raw data of ${raw.length} bytes for ${n} values`
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    const read =
      type === FLOAT ? (i: number) => view.getFloat32(4 * i, true)
      : type === DOUBLE ? (i: number) => view.getFloat64(8 * i, true)
      : type === INT32 ? (i: number) => view.getInt32(4 * i, true)
      : (i: number) => Number(view.getBigInt64(8 * i, true))
    data = Float64Array.from({ length: n }, (_, i) => read(i))
  } else {
    const list: ArrayLike<number | { toNumber(): number }> =
      type === FLOAT ? t.floatData ?? []
      : type === DOUBLE ? t.doubleData ?? []
      : type === INT32 ? t.int32Data ?? []
      : t.int64Data ?? []
    if (list.length !== n) return `${list.length} values for shape [${dims}]`
    data = Float64Array.from({ length: n }, (_, i) => toInt(list[i]))
  }
  return { kind: 'const', dims, data }
}

const constInts = (s: Sym): number[] | string =>
  s.kind === 'const' ? Array.from(s.data) : `a shape or axes argument that is ${describe(s)}, not a constant`

const attrInts = (attrs: Map<string, AttributeProto>, name: string): number[] | string => {
  const a = attrs.get(name)
  return a ? (a.ints ?? []).map(toInt) : `the attribute ${name} is missing`
}

const mapConst = (c: Const, f: (v: number) => number): Sym => ({
  kind: 'const',
  dims: c.dims,
  data: Float64Array.from(c.data, f),
})

const constBinary = (a: Const, b: Const, f: (p: number, q: number) => number): Sym | string => {
  const dims = broadcastDims(a.dims, b.dims)
  if (typeof dims === 'string') return dims
  const ia = broadcastIndex(dims, a.dims)
  const ib = broadcastIndex(dims, b.dims)
  return { kind: 'const', dims, data: Float64Array.from(ia, (i, n) => f(a.data[i], b.data[ib[n]])) }
}

/** Numpy broadcasting of two shapes (aligned on the right). */
const broadcastDims = (p: number[], q: number[]): number[] | string => {
  const n = Math.max(p.length, q.length)
  const r: number[] = []
  for (let i = 0; i < n; i++) {
    const u = p[p.length - n + i] ?? 1
    const v = q[q.length - n + i] ?? 1
    if (u !== v && u !== 1 && v !== 1) return `shapes [${p}] and [${q}] do not broadcast`
    r.push(u === 1 ? v : u)
  }
  return r
}

/** For each flat index of shape `out`, the flat index in a tensor of shape `src` broadcast to it. */
const broadcastIndex = (out: number[], src: number[]): Int32Array => {
  const n = size(out)
  const r = new Int32Array(n)
  const off = out.length - src.length
  for (let f = 0; f < n; f++) {
    let rem = f
    let idx = 0
    let stride = 1
    for (let ax = out.length - 1; ax >= 0; ax--) {
      const coord = rem % out[ax]
      rem = Math.floor(rem / out[ax])
      const s = ax - off
      if (s >= 0) {
        if (src[s] !== 1) idx += coord * stride
        stride *= src[s]
      }
    }
    r[f] = idx
  }
  return r
}

/**
 * Taking `idx` along `axis` (keeping the axis, or dropping it for a scalar index): the new dims, and
 * for each new flat index the source flat index.
 */
const takeIndex = (dims: number[], axis: number, idx: number[], keep: boolean): { dims: number[]; map: Int32Array } => {
  const out = keep ? dims.map((v, i) => (i === axis ? idx.length : v)) : dims.filter((_, i) => i !== axis)
  const inner = size(dims.slice(axis + 1))
  const outer = size(dims.slice(0, axis))
  const k = keep ? idx.length : 1
  const map = new Int32Array(outer * k * inner)
  let f = 0
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < k; j++) for (let i = 0; i < inner; i++) map[f++] = (o * dims[axis] + idx[j]) * inner + i
  return { dims: out, map }
}

/** For each flat index of the transposed tensor, the flat index in the source of shape `dims`. */
const transposeIndex = (dims: number[], perm: number[]): Int32Array => {
  const outDims = perm.map((i) => dims[i])
  const strides = dims.map((_, i) => size(dims.slice(i + 1)))
  const n = size(dims)
  const r = new Int32Array(n)
  for (let f = 0; f < n; f++) {
    let rem = f
    let idx = 0
    for (let ax = outDims.length - 1; ax >= 0; ax--) {
      idx += (rem % outDims[ax]) * strides[perm[ax]]
      rem = Math.floor(rem / outDims[ax])
    }
    r[f] = idx
  }
  return r
}

/** Concatenation of row-major arrays along `axis`. */
const concatItems = <T>(
  parts: Array<{ dims: number[]; items: T[] }>,
  axis: number,
): { dims: number[]; items: T[] } | string => {
  const rank = parts[0].dims.length
  const ax = axis < 0 ? axis + rank : axis
  if (ax < 0 || ax >= rank) return `concatenation axis ${axis} is out of range`
  for (const p of parts)
    if (p.dims.length !== rank || p.dims.some((v, i) => i !== ax && v !== parts[0].dims[i]))
      return `concatenates shapes ${parts.map((q) => `[${q.dims}]`).join(', ')}`
  const outer = size(parts[0].dims.slice(0, ax))
  const items: T[] = []
  for (let o = 0; o < outer; o++)
    for (const p of parts) {
      const block = size(p.dims.slice(ax))
      for (let i = 0; i < block; i++) items.push(p.items[o * block + i])
    }
  const dims = [...parts[0].dims]
  dims[ax] = parts.reduce((s, p) => s + p.dims[ax], 0)
  return { dims, items }
}
