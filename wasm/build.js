// Compiles the AssemblyScript kernels (wasm/assembly) into two WebAssembly binaries:
//   wasm/build/core.simd.wasm     baseline: WebAssembly SIMD (v128), runs everywhere Node.js 20+ runs
//   wasm/build/core.relaxed.wasm  relaxed SIMD (fused multiply-add), picked by the loader when the
//                                 runtime validates it (Node.js 22, Lambda nodejs22.x)
// and, for `npm run bench`, the f32x4 multiply-add peak microkernel (wasm/bench/peak.ts) into
//   wasm/build/peak.simd.wasm, wasm/build/peak.relaxed.wasm
// The kernels branch on ASC_FEATURE_RELAXED_SIMD at compile time, so both come from one source.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import asc from 'assemblyscript/asc'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, 'build')
mkdirSync(outDir, { recursive: true })

const options = [
  '--runtime', 'stub',
  '-O3',
  '--noAssert',
  '--uncheckedBehavior', 'always',
  '--initialMemory', '16',
]

const variants = [
  { name: 'simd', features: ['--enable', 'simd'] },
  { name: 'relaxed', features: ['--enable', 'simd', '--enable', 'relaxed-simd'] },
]

const targets = [
  { name: 'core', entry: join(here, 'assembly', 'index.ts') },
  { name: 'peak', entry: join(here, 'bench', 'peak.ts') },
]

for (const t of targets) {
  for (const v of variants) {
    const outFile = join(outDir, `${t.name}.${v.name}.wasm`)
    const { error, stderr } = await asc.main([t.entry, ...options, ...v.features, '--outFile', outFile])
    if (error) {
      console.error(stderr.toString())
      console.error(`wasm build failed for ${t.name}, variant ${v.name}: ${error.message}`)
      process.exit(1)
    }
    console.log(`built ${outFile}`)
  }
}
