/**
 * Resident memory of a generation as N grows: each N runs in a fresh child process (workers
 * included, since worker threads share the process's memory) that generates, counts, and reports
 * its peak resident set (`process.resourceUsage().maxRSS`). Euler with one step keeps the time low;
 * memory does not depend on the solver's step count, only on the chunking.
 */
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))

export interface MemoryPoint {
  readonly points: number
  readonly seconds: number
  /** Peak resident set of the whole process, MiB. */
  readonly maxRssMiB: number
}

/** Runs one generation of `points` points in a child process; resolves to its peak RSS. */
export const measureGeneration = async (points: number, workers = 2): Promise<MemoryPoint> => {
  const { stdout } = await run(process.execPath, [join(here, 'memory-child.js'), String(points), String(workers)], {
    maxBuffer: 1 << 20,
  })
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as MemoryPoint
}
