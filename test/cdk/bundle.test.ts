/**
 * `cdk synth` with real bundling, as `bayesamp deploy` does it: esbuild bundles the three handlers
 * (the WASM core copied beside generate's and reduce's; onnxruntime-node replaced), and each
 * bundle loads in a plain Node.js outside the repository. (stack.test.ts asserts the template with
 * bundling skipped, which is faster.)
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { App } from 'aws-cdk-lib'
import { afterAll, describe, expect, it } from 'vitest'
import { BayesampStack } from '../../cdk/stack.ts'

const outdir = mkdtempSync(join(tmpdir(), 'bayesamp-bundle-'))
afterAll(() => rmSync(outdir, { recursive: true, force: true }))

describe('cdk synth with bundling', () => {
  it('bundles every handler; each bundle loads on its own, the generate bundle with the WASM core', async () => {
    const app = new App({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:enable-asset-metadata': true } })
    const stack = new BayesampStack(app, 'Bayesamp')
    const template = app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }> }
    const fns = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler')
    expect(fns.length).toBe(3)
    for (const [id, r] of fns) {
      const asset = join(outdir, r.Metadata!['aws:asset:path'])
      expect(existsSync(join(asset, 'index.mjs')), `${id} bundle`).toBe(true)
      const files = readdirSync(asset)
      if (/Generate/.test(id)) expect(files).toEqual(expect.arrayContaining(['core.simd.wasm', 'core.relaxed.wasm']))
      // the bundle imports cleanly outside the repository (no node_modules around it but its own)
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', `import(${JSON.stringify(join(asset, 'index.mjs'))}).then(m => console.log(typeof m.handler))`], { cwd: tmpdir() })
      expect(stdout.trim(), `${id} loads`).toBe('function')
      expect(readFileSync(join(asset, 'index.mjs')).length).toBeGreaterThan(1000)
    }
  })
})
