/**
 * Plain TypeScript reference ODE solvers in f64, used only by the tests: fixed-step Euler,
 * explicit midpoint and classic RK4 for one point of dx/dt = f(t, x).
 */

export type FieldFn = (t: number, x: readonly number[]) => number[]
export type FixedMethod = 'euler' | 'midpoint' | 'rk4'

const axpy = (x: readonly number[], h: number, k: readonly number[]): number[] => x.map((v, j) => v + h * k[j])

/** One step of size h from (t, x). */
export const stepRef = (method: FixedMethod, f: FieldFn, t: number, x: readonly number[], h: number): number[] => {
  switch (method) {
    case 'euler':
      return axpy(x, h, f(t, x))
    case 'midpoint':
      return axpy(x, h, f(t + h / 2, axpy(x, h / 2, f(t, x))))
    case 'rk4': {
      const k1 = f(t, x)
      const k2 = f(t + h / 2, axpy(x, h / 2, k1))
      const k3 = f(t + h / 2, axpy(x, h / 2, k2))
      const k4 = f(t + h, axpy(x, h, k3))
      return x.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]))
    }
  }
}

/** `steps` equal steps from t0 to t1, step i starting at t0 + i·h. */
export const integrateRef = (
  method: FixedMethod,
  f: FieldFn,
  x0: readonly number[],
  steps: number,
  t0 = 0,
  t1 = 1,
): number[] => {
  const h = (t1 - t0) / steps
  let x = [...x0]
  for (let s = 0; s < steps; s++) x = stepRef(method, f, t0 + s * h, x, h)
  return x
}

/** Least-squares slope of log(err) against log(h): the observed order of convergence. */
export const observedOrder = (hs: readonly number[], errs: readonly number[]): number => {
  const lx = hs.map(Math.log)
  const ly = errs.map(Math.log)
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length
  const my = ly.reduce((a, b) => a + b, 0) / ly.length
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < lx.length; i++) {
    sxy += (lx[i] - mx) * (ly[i] - my)
    sxx += (lx[i] - mx) ** 2
  }
  return sxy / sxx
}
