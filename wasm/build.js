// Compiles the AssemblyScript kernels (wasm/assembly) into two WebAssembly binaries:
//   wasm/build/core.simd.wasm     baseline: WebAssembly SIMD (v128), runs everywhere Node.js 20+ runs
//   wasm/build/core.relaxed.wasm  relaxed SIMD (fused multiply-add), picked by the loader when the
//                                 runtime validates it (Node.js 22, Lambda nodejs22.x)
// The kernels branch on ASC_FEATURE_RELAXED_SIMD at compile time, so both come from one source.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import asc from 'assemblyscript/asc'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, 'build')
mkdirSync(outDir, { recursive: true })

const common = [
  join(here, 'assembly', 'index.ts'),
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

for (const v of variants) {
  const outFile = join(outDir, `core.${v.name}.wasm`)
  const { error, stderr } = await asc.main([...common, ...v.features, '--outFile', outFile])
  if (error) {
    console.error(stderr.toString())
    console.error(`wasm build failed for variant ${v.name}: ${error.message}`)
    process.exit(1)
  }
  console.log(`built ${outFile}`)
}
