/**
 * `bayesamp vfield`: evaluates a vector field at given points, to check an imported model against
 * the framework that wrote it.
 */
import { readFile } from 'node:fs/promises'
import { WasmField } from '../../core/field.ts'
import { core } from '../../core/wasm.ts'
import { describeLoad, loadField } from '../../model/load.ts'
import type { Logger } from '../logger.ts'

export interface VfieldPoint {
  readonly t: number
  readonly x: readonly number[]
}

/** Checks the parsed input file: an array of `{t, x}` with `x` of the model's dimension. */
export const parseVfieldInput = (u: unknown, dim: number, name: string): VfieldPoint[] => {
  if (!Array.isArray(u)) throw new Error(`${name}: expected a JSON array of {"t": number, "x": number[]}`)
  return u.map((p: unknown, i) => {
    const o = p as { t?: unknown; x?: unknown }
    if (typeof p !== 'object' || p === null) throw new Error(`${name}[${i}]: expected an object {"t", "x"}`)
    if (typeof o.t !== 'number' || !Number.isFinite(o.t)) throw new Error(`${name}[${i}].t: expected a finite number`)
    if (!Array.isArray(o.x) || o.x.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
      throw new Error(`${name}[${i}].x: expected an array of finite numbers`)
    if (o.x.length !== dim) throw new Error(`${name}[${i}].x: has ${o.x.length} components, the model takes ${dim}`)
    return { t: o.t, x: o.x as number[] }
  })
}

/** Evaluates `v(t, x)` at every point; returns one `number[]` per point. */
export const vfield = async (modelPath: string, inputPath: string, log: Logger): Promise<number[][]> => {
  const loaded = await loadField(modelPath)
  log.info(describeLoad(loaded))
  const dim = loaded.kind === 'mlp' ? loaded.model.spec.dim : loaded.field.dim
  let text: string
  try {
    text = await readFile(inputPath, 'utf8')
  } catch (e) {
    throw new Error(`${inputPath}: cannot read the input: ${(e as NodeJS.ErrnoException).code ?? String(e)}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new Error(`${inputPath}: not valid JSON (${(e as Error).message})`)
  }
  const points = parseVfieldInput(json, dim, inputPath)
  const t = Float32Array.from(points, (p) => p.t)
  const x = new Float32Array(points.length * dim)
  points.forEach((p, i) => x.set(p.x, i * dim))
  const v =
    loaded.kind === 'mlp'
      ? core().scoped(() => new WasmField(core(), loaded.model).evaluate(t, x))
      : await loaded.field.evaluate(t, x)
  return points.map((_, i) => Array.from(v.subarray(i * dim, (i + 1) * dim)))
}
