/**
 * A pool of worker threads running pipeline tasks (trainings, generation items) of one run, a task
 * per worker at a time, handed out in order as workers free up. The first failure stops the pool
 * and is returned; tasks already finished stay finished (their outputs are in the store).
 */
import { Worker } from 'node:worker_threads'
import type { FromTaskWorker, Task, TaskWorkerInit } from './task-worker.ts'

const bootUrl = new URL('../generate/boot.mjs', import.meta.url)
const workerUrl = new URL('./task-worker.ts', import.meta.url).href

export interface PoolEvents<T extends Task> {
  onProgress?(task: T, p: Extract<FromTaskWorker, { type: 'progress' }>): void
  onDone?(task: T, r: { skipped: boolean; seconds: number }): void
}

/** Runs `tasks` on `size` workers; resolves with undefined, or the first failure's message. */
export const runTasks = <T extends Task>(init: TaskWorkerInit, tasks: readonly T[], size: number, ev: PoolEvents<T> = {}): Promise<string | undefined> =>
  new Promise((resolve) => {
    const queue = [...tasks]
    const n = Math.max(1, Math.min(size, queue.length))
    if (queue.length === 0) return resolve(undefined)
    const workers: Worker[] = []
    let running = n
    let failure: string | undefined
    const stop = (message: string) => {
      if (failure !== undefined) return
      failure = message
      for (const w of workers) void w.terminate()
      resolve(message)
    }
    for (let i = 0; i < n; i++) {
      const w = new Worker(bootUrl, { workerData: { entry: workerUrl, init } })
      workers.push(w)
      let current: T | undefined
      const next = () => {
        current = queue.shift()
        if (current === undefined) {
          void w.terminate()
          if (--running === 0 && failure === undefined) resolve(undefined)
          return
        }
        w.postMessage(current)
      }
      w.on('message', (m: FromTaskWorker) => {
        if (failure !== undefined || current === undefined) return
        if (m.type === 'progress') return ev.onProgress?.(current, m)
        if (m.type === 'failed') return stop(m.message)
        ev.onDone?.(current, m)
        next()
      })
      w.on('error', (e) => stop(`worker ${i} crashed: ${e.message}`))
      w.on('exit', (code) => {
        if (current !== undefined && failure === undefined) stop(`worker ${i} exited (code ${code}) during a ${current.kind} task`)
      })
      next()
    }
  })
