/**
 * Parsing of command-line values into the library's types, with errors that name the option.
 */
import type { Solver } from '../core/ode.ts'
import type { PointCount } from '../generate/plan.ts'

const fail = (option: string, problem: string): never => {
  throw new RangeError(`--${option}: ${problem}`)
}

export const integer = (option: string, v: unknown, min = 0): number => {
  const n = typeof v === 'number' ? v : Number(String(v).replace(/_/g, ''))
  if (!Number.isSafeInteger(n) || n < min) fail(option, `expected an integer ≥ ${min}, got '${String(v)}'`)
  return n
}

export const positive = (option: string, v: unknown): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) fail(option, `expected a positive number, got '${String(v)}'`)
  return n
}

/** "2,5,10,20" → [2, 5, 10, 20]. */
export const intList = (option: string, v: unknown): number[] => {
  const parts = String(v)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (parts.length === 0) fail(option, 'expected a comma-separated list of integers')
  return parts.map((p) => integer(option, p, 1))
}

export const SOLVERS = ['euler', 'midpoint', 'rk4', 'dopri5'] as const

export const solver = (o: { solver?: unknown; steps?: unknown; rtol?: unknown; atol?: unknown }): Solver => {
  const kind = String(o.solver ?? 'rk4')
  if (kind === 'dopri5')
    return {
      kind,
      rtol: o.rtol === undefined ? 1e-5 : positive('rtol', o.rtol),
      atol: o.atol === undefined ? 1e-6 : positive('atol', o.atol),
    }
  if (kind === 'euler' || kind === 'midpoint' || kind === 'rk4')
    return { kind, steps: o.steps === undefined ? 16 : integer('steps', o.steps, 1) }
  return fail('solver', `expected one of ${SOLVERS.join(', ')}, got '${kind}'`)
}

export const pointCount = (o: { points?: unknown; pointsPerBin?: unknown }): PointCount => {
  if (o.points !== undefined && o.pointsPerBin !== undefined)
    fail('points', 'give either --points or --points-per-bin, not both')
  if (o.points !== undefined) return { kind: 'fixed', points: integer('points', o.points, 1) }
  return { kind: 'perBin', pointsPerBin: o.pointsPerBin === undefined ? 1000 : integer('points-per-bin', o.pointsPerBin, 1) }
}
