/**
 * NumPy `.npy` files (format versions 1.0–3.0), so that counts, points and training sets can be
 * opened with `numpy.load`. Little-endian, C order; the dtypes bayesamp writes and reads are
 * float32, float64, int32, int64 and uint32.
 *
 * @see https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type NpyDtype = '<f4' | '<f8' | '<i4' | '<i8' | '<u4'

export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint32Array

export interface NpyArray {
  readonly dtype: NpyDtype
  readonly shape: readonly number[]
  readonly data: NpyData
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

const dtypeOf = (data: NpyData): NpyDtype => {
  if (data instanceof Float32Array) return '<f4'
  if (data instanceof Float64Array) return '<f8'
  if (data instanceof Int32Array) return '<i4'
  if (data instanceof BigInt64Array) return '<i8'
  return '<u4'
}

const itemSize: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '<u4': 4 }

// -------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------

/** The header (magic, version 1.0, padded dict) of an array of `dtype` with `shape`. */
export const npyHeader = (dtype: NpyDtype, shape: readonly number[]): Uint8Array => {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n'
  if (header.length > 0xffff) throw new RangeError('npy: header too long for format 1.0')
  const head = new Uint8Array(MAGIC.length + 4 + header.length)
  head.set(MAGIC, 0)
  head[6] = 1
  head[7] = 0
  head[8] = header.length & 0xff
  head[9] = header.length >> 8
  for (let i = 0; i < header.length; i++) head[10 + i] = header.charCodeAt(i)
  return head
}

/** Serializes `data` with `shape` as a version 1.0 `.npy` file. */
export const encodeNpy = (shape: readonly number[], data: NpyData): Uint8Array => {
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== data.length)
    throw new RangeError(`npy: shape [${shape.join(', ')}] holds ${count} items, the data has ${data.length}`)
  const head = npyHeader(dtypeOf(data), shape)
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Uint8Array(head.length + body.length)
  out.set(head, 0)
  out.set(body, head.length)
  return out
}

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

/**
 * Parses a `.npy` file. `what` names the file in error messages. Throws on anything that is not a
 * little-endian, C-order array of a supported dtype.
 */
export const decodeNpy = (bytes: Uint8Array, what = 'array'): NpyArray => {
  const fail = (problem: string): never => {
    throw new Error(`${what}: not a usable .npy file: ${problem}`)
  }
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('missing the \\x93NUMPY magic')
  const major = bytes[6]
  let headerLen: number
  let start: number
  if (major === 1) {
    headerLen = bytes[8] | (bytes[9] << 8)
    start = 10
  } else if (major === 2 || major === 3) {
    headerLen = (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (bytes[11] << 24)) >>> 0
    start = 12
  } else return fail(`unsupported format version ${major}`)
  if (start + headerLen > bytes.length) fail('header runs past the end of the file')
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen))
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`malformed header ${header.trim()}`)
  if (fortran === 'True') fail('Fortran-ordered arrays are not supported; save with np.ascontiguousarray')
  const normalized = descr!.replace(/^\|/, '<').replace(/^=/, '<')
  if (!(normalized in itemSize)) fail(`dtype ${descr} is not one of float32, float64, int32, int64, uint32 (little-endian)`)
  const dtype = normalized as NpyDtype
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number)
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) fail(`bad shape (${shapeText})`)
  const count = shape.reduce((a, b) => a * b, 1)
  const offset = start + headerLen
  const byteLength = count * itemSize[dtype]
  if (offset + byteLength !== bytes.length)
    fail(`shape (${shape.join(', ')}) of ${dtype} needs ${byteLength} data bytes, the file has ${bytes.length - offset}`)
  // Copy into an aligned buffer: typed arrays need offsets that are multiples of their item size.
  // (Uint8Array's own slice: a Node Buffer's slice would share the pool's memory instead.)
  const buf = Uint8Array.prototype.slice.call(bytes, offset, offset + byteLength).buffer
  const data: NpyData =
    dtype === '<f4'
      ? new Float32Array(buf)
      : dtype === '<f8'
        ? new Float64Array(buf)
        : dtype === '<i4'
          ? new Int32Array(buf)
          : dtype === '<i8'
            ? new BigInt64Array(buf)
            : new Uint32Array(buf)
  return { dtype, shape, data }
}

/** The data as plain numbers (int64 converted; exact below 2⁵³). */
export const npyNumbers = (a: NpyArray): Float64Array =>
  a.data instanceof BigInt64Array ? Float64Array.from(a.data, (v) => Number(v)) : Float64Array.from(a.data)

/** Reads and decodes a `.npy` file; errors name the file. */
export const readNpy = async (path: string): Promise<NpyArray> => {
  const { readFile } = await import('node:fs/promises')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(path))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new Error(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read: ${String(e)}`)
  }
  return decodeNpy(bytes, path)
}
