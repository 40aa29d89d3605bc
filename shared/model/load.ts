/**
 * Loading a vector field from an ONNX file: a graph of the MLP family goes to the WASM kernel,
 * anything else to onnxruntime-node. The caller is told which, and why.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { importOnnx } from './onnx.ts'
import { OrtField } from './ort.ts'
import type { Mlp } from './spec.ts'

export type LoadedField =
  | { readonly kind: 'mlp'; readonly model: Mlp; readonly name: string; readonly sha256: string; readonly note: string }
  | { readonly kind: 'graph'; readonly field: OrtField; readonly name: string; readonly sha256: string; readonly reason: string }

export const readModelFile = async (path: string): Promise<Uint8Array> => {
  try {
    return new Uint8Array(await readFile(path))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new Error(code === 'ENOENT' ? `${path}: no such model file` : `${path}: cannot read the model: ${String(e)}`)
  }
}

/** Reads and classifies an ONNX vector field. */
export const loadField = async (path: string): Promise<LoadedField> => {
  const bytes = await readModelFile(path)
  const name = basename(path)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const imported = importOnnx(bytes, path)
  if (imported.kind === 'mlp') return { kind: 'mlp', model: imported.model, name, sha256, note: imported.note }
  return { kind: 'graph', field: await OrtField.create(bytes, path), name, sha256, reason: imported.reason }
}

/** The one-line log of which evaluator a loaded field takes. */
export const describeLoad = (f: LoadedField): string =>
  f.kind === 'mlp'
    ? `${f.name}: MLP family (${f.model.spec.hidden.join('-')} ${f.model.spec.activation}, ${f.model.params.length} parameters) → WASM kernel${f.note ? ` (${f.note})` : ''}`
    : `${f.name}: not the MLP family (${f.reason}) → onnxruntime-node, slower`
