/**
 * Test support: running a state machine definition with aws-local-stepfunctions on Node.js 20.
 *
 * aws-local-stepfunctions 3 declares Node.js ≥ 22 and calls `Promise.withResolvers` (ES2024, in
 * V8 from Node.js 22) for every Task state's timeout. On Node.js 20 {@link installPromiseWithResolvers}
 * adds the standard method (same contract: a promise and the functions that settle it) before a run.
 */

type WithResolvers = <T>() => {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

/** Adds `Promise.withResolvers` where the runtime lacks it; does nothing on Node.js 22+. */
export const installPromiseWithResolvers = (): void => {
  const P = Promise as unknown as { withResolvers?: WithResolvers }
  if (typeof P.withResolvers === 'function') return
  P.withResolvers = <T>() => {
    let resolve!: (value: T | PromiseLike<T>) => void
    let reject!: (reason?: unknown) => void
    const promise = new Promise<T>((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
