#!/usr/bin/env node
// `npm run bench`: registers the TypeScript loader, then runs bench/main.ts from source.
//
// The relaxed-SIMD build needs Node.js 20 to run with --experimental-wasm-relaxed-simd (Node.js 22
// validates it by default). Where the runtime lacks it and accepts the flag, the bench restarts
// itself once with the flag, in a child that inherits the terminal; the flag changes nothing for
// the other sides, which run in that same process.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { register } from 'tsx/esm/api'

const FLAG = '--experimental-wasm-relaxed-simd'

// f32x4.relaxed_madd in a minimal module: validates exactly when relaxed SIMD is available.
const probe = () => {
  const v = [0xfd, 0x0c, ...new Array(16).fill(0)]
  const body = [0x00, ...v, ...v, ...v, 0xfd, 0x85, 0x02, 0x0b]
  const code = [0x01, body.length, ...body]
  return WebAssembly.validate(
    new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
      0x0a, code.length, ...code,
    ]),
  )
}

if (!probe() && process.env.BAYESAMP_BENCH_RELAXED === undefined) {
  const accepts = spawnSync(process.execPath, [FLAG, '-e', '0']).status === 0
  if (accepts) {
    const self = fileURLToPath(import.meta.url)
    const child = spawnSync(process.execPath, [...process.execArgv, FLAG, self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, BAYESAMP_BENCH_RELAXED: '1' },
    })
    process.exit(child.status ?? 1)
  }
}

register()
await import('../bench/main.ts')
