/**
 * A bench-local ONNX export of the vector field, for timing onnxruntime-node. It writes the
 * same function as the model (inputs `t` float [batch], `x` float [batch, d]; output `v` float
 * [batch, d]) as a plain graph: Unsqueeze, Mul, Cos, Sin, Concat, then Gemm (transB = 1) and the
 * activation per layer. The project's exporter (shared/model/onnx.ts) replaces it once it lands.
 *
 * The features are concatenated as `[t, cos πt … cos Kπt, sin πt … sin Kπt, x]` (three Concat
 * inputs instead of an interleave), and the first layer's weight columns are permuted to match,
 * so the graph computes the canonical feature order's function exactly.
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto'
import { type Activation, type Mlp, layerOffsets } from '../shared/model/spec.ts'

const { onnx } = onnxProto

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const FLOAT = onnx.TensorProto.DataType.FLOAT
const INT64 = onnx.TensorProto.DataType.INT64

const floatTensor = (name: string, dims: number[], values: ArrayLike<number>): Onnx.ITensorProto => ({
  name,
  dims,
  dataType: FLOAT,
  rawData: new Uint8Array(Float32Array.from(values).buffer),
})

const int64Tensor = (name: string, values: number[]): Onnx.ITensorProto => ({
  name,
  dims: [values.length],
  dataType: INT64,
  rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer),
})

const valueInfo = (name: string, dims: Array<number | string>): Onnx.IValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType: FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
})

const node = (
  opType: string,
  input: string[],
  output: string,
  attribute: Onnx.IAttributeProto[] = [],
): Onnx.INodeProto => ({ opType, input, output: [output], name: output, attribute })

const intAttr = (name: string, i: number): Onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
})

const floatAttr = (name: string, f: number): Onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.FLOAT,
  f,
})

/** Nodes applying `a` to `z`, writing `out`. */
const activationNodes = (a: Activation, z: string, out: string): Onnx.INodeProto[] => {
  switch (a) {
    case 'elu':
      return [node('Elu', [z], out, [floatAttr('alpha', 1)])]
    case 'relu':
      return [node('Relu', [z], out)]
    case 'tanh':
      return [node('Tanh', [z], out)]
    case 'silu':
      return [node('Sigmoid', [z], `${out}.sigmoid`), node('Mul', [z, `${out}.sigmoid`], out)]
  }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The ONNX bytes (IR 8, opset 17) of `m`'s vector field. */
export const benchOnnx = (m: Mlp): Uint8Array => {
  const { spec, params } = m
  const K = spec.frequencies
  const layers = layerOffsets(spec)
  const initializer: Onnx.ITensorProto[] = [int64Tensor('axes', [1])]
  const nodes: Onnx.INodeProto[] = [node('Unsqueeze', ['t', 'axes'], 'tc')]
  const features = ['tc']
  // canonical column of feature f in the graph's order [t, cos 1…K, sin 1…K, x]
  const column = [0, ...Array.from({ length: K }, (_, k) => 1 + 2 * k), ...Array.from({ length: K }, (_, k) => 2 + 2 * k)]
  for (let j = 0; j < spec.dim; j++) column.push(1 + 2 * K + j)
  if (K > 0) {
    initializer.push(floatTensor('freqs', [1, K], Array.from({ length: K }, (_, k) => (k + 1) * Math.PI)))
    nodes.push(node('Mul', ['tc', 'freqs'], 'angle'), node('Cos', ['angle'], 'cos'), node('Sin', ['angle'], 'sin'))
    features.push('cos', 'sin')
  }
  nodes.push(node('Concat', [...features, 'x'], 'h0', [intAttr('axis', 1)]))
  let h = 'h0'
  layers.forEach((L, l) => {
    const w = new Float32Array(L.out * L.in)
    for (let o = 0; o < L.out; o++)
      for (let i = 0; i < L.in; i++) w[o * L.in + i] = params[L.w + o * L.in + (l === 0 ? column[i] : i)]
    initializer.push(floatTensor(`W${l}`, [L.out, L.in], w), floatTensor(`b${l}`, [L.out], params.subarray(L.b, L.b + L.out)))
    const last = l === layers.length - 1
    const z = last ? 'v' : `z${l + 1}`
    nodes.push(node('Gemm', [h, `W${l}`, `b${l}`], z, [intAttr('transB', 1)]))
    if (!last) {
      h = `h${l + 1}`
      nodes.push(...activationNodes(spec.activation, z, h))
    }
  })
  const model: Onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'bayesamp-bench',
    graph: {
      name: 'vector_field',
      node: nodes,
      initializer,
      input: [valueInfo('t', ['batch']), valueInfo('x', ['batch', spec.dim])],
      output: [valueInfo('v', ['batch', spec.dim])],
    },
  }
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish()
}
