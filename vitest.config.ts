import { defineConfig } from 'vitest/config'
import { relaxedSimdSupported } from './shared/core/wasm.ts'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Kernels are single-threaded and the machine has about one core of capacity:
    // two forks keep the suite's wall time down without starving the tests that spawn workers.
    pool: 'forks',
    maxWorkers: 2,
    // Node.js 20 validates relaxed SIMD only behind this flag (22 has it on, and may not know the
    // flag): with it, the tests exercise both builds of the core, the fused one included.
    execArgv: relaxedSimdSupported() ? [] : ['--experimental-wasm-relaxed-simd'],
  },
})
