#!/usr/bin/env node
// The `bayesamp` command: registers the TypeScript loader, turns on relaxed SIMD where the runtime
// has it behind a flag (Node.js 20; see enableRelaxedSimd), then runs the CLI from source.
import { register } from 'tsx/esm/api'

register()
const { enableRelaxedSimd } = await import('../shared/core/wasm.ts')
enableRelaxedSimd()
await import('../shared/cli/main.ts')
