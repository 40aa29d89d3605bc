#!/usr/bin/env node
// The `bayesamp` command: registers the TypeScript loader, then runs the CLI from source.
import { register } from 'tsx/esm/api'

register()
await import('../shared/cli/main.ts')
