// Child of bench/memory.ts: generates argv[2] points from the paper model (euler, 1 step) with
// argv[3] workers into four quantile grids, then prints {points, seconds, maxRssMiB} as JSON.
import { register } from 'tsx/esm/api'

register()
const { generateWasm } = await import('../shared/generate/generate.ts')
const { benchModel } = await import('./model.ts')
const points = Number(process.argv[2])
const workers = Number(process.argv[3])
const started = performance.now()
await generateWasm(
  benchModel(),
  { seed: 1, stream: 0, grids: [2, 5, 10, 20], count: { kind: 'fixed', points }, solver: { kind: 'euler', steps: 1 }, chunkSize: 4096 },
  { workers, variant: 'simd' },
)
const seconds = (performance.now() - started) / 1000
console.log(JSON.stringify({ points, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }))
