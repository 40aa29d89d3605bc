/**
 * The command line as a user runs it (a child process): `vfield` against the outputs PyTorch
 * recorded for the same inputs, both evaluation paths, and its input errors.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeNpy } from '../shared/io/npy.ts'

const root = join(import.meta.dirname, '..')
const dir = mkdtempSync(join(tmpdir(), 'bayesamp-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/bayesamp.js', ...args], { cwd: root })

interface Recorded {
  t: number[]
  x: number[][]
  v: number[][]
}

/** Writes the vfield input for recorded (t, x) and returns the recorded outputs. */
const inputFor = (name: string, r: Recorded): string => {
  const file = join(dir, `${name}.io.json`)
  writeFileSync(file, JSON.stringify(r.t.map((t, i) => ({ t, x: r.x[i] }))))
  return file
}

const rows = (values: number[], d: number): number[][] =>
  Array.from({ length: values.length / d }, (_, i) => values.slice(i * d, (i + 1) * d))

// PyTorch evaluated in float32; the kernels agree with it to ~1e-7 (onnx.test.ts), so 1e-5 of
// max(1, |v|) leaves room for f32 reordering and nothing else.
const close = (got: number[][], want: number[][]) =>
  got.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i][j])))))

describe('bayesamp vfield', () => {
  it('prints what PyTorch computed for the example model (WASM path)', async () => {
    const io = JSON.parse(readFileSync(join(root, 'examples/models/ring-cfm.io.json'), 'utf8'))
    const rec: Recorded = { t: io.inputs.t.values, x: rows(io.inputs.x.values.flat(), 2), v: rows(io.outputs.v.values.flat(), 2) }
    const { stdout, stderr } = await cli('vfield', '--model', 'examples/models/ring-cfm.onnx', '--input', inputFor('ring', rec))
    expect(stderr).toMatch(/WASM kernel/)
    close(JSON.parse(stdout).map((o: { v: number[] }) => o.v), rec.v)
  })

  it('evaluates a graph outside the MLP family through onnxruntime and says why', async () => {
    const fx = JSON.parse(readFileSync(join(root, 'test/fixtures/torch/skip.json'), 'utf8'))
    const d = fx.x.shape[1]
    const rec: Recorded = { t: fx.t.values.flat(), x: rows(fx.x.values.flat(), d), v: rows(fx.v.values.flat(), d) }
    const { stdout, stderr } = await cli('vfield', '--model', 'test/fixtures/torch/skip.onnx', '--input', inputFor('skip', rec))
    expect(stderr).toMatch(/not the MLP family .* onnxruntime-node/)
    close(JSON.parse(stdout).map((o: { v: number[] }) => o.v), rec.v)
  })

  it('names the input file and the entry that is wrong', async () => {
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify([{ t: 0.5, x: [1, 2] }, { t: 0.5, x: [1] }]))
    await expect(cli('vfield', '--model', 'examples/models/ring-cfm.onnx', '--input', bad)).rejects.toMatchObject({
      stderr: expect.stringMatching(/bad\.json\[1\]\.x: has 1 components, the model takes 2/),
    })
    writeFileSync(bad, '{"t": ')
    await expect(cli('vfield', '--model', 'examples/models/ring-cfm.onnx', '--input', bad)).rejects.toMatchObject({
      stderr: expect.stringMatching(/bad\.json: not valid JSON/),
    })
    await expect(cli('vfield', '--model', join(dir, 'none.onnx'), '--input', bad)).rejects.toMatchObject({
      stderr: expect.stringMatching(/none\.onnx: no such model file/),
    })
  })
})

describe('bayesamp loglik', () => {
  it("matches PyTorch's log p of the example model (RK4, 8 steps, exact divergence)", async () => {
    const io = JSON.parse(readFileSync(join(root, 'examples/models/ring-cfm.io.json'), 'utf8'))
    const { x, logp } = io.logp_check as { x: number[][]; logp: number[] }
    const file = join(dir, 'logp-points.npy')
    writeFileSync(file, encodeNpy([x.length, 2], Float32Array.from(x.flat())))
    const { stdout } = await cli('loglik', '--model', 'examples/models/ring-cfm.onnx', '--data', file, '--steps', '8')
    const r = JSON.parse(stdout)
    const want = logp.reduce((a, b) => a + b, 0) / logp.length
    // PyTorch integrated in float32 with autograd divergences; both are the same discrete RK4, so
    // they differ by f32 rounding accumulated over 8 steps: ~1e-5 relative on log p ≈ −5.
    expect(r.n).toBe(16)
    expect(Math.abs(r.mean - want)).toBeLessThan(1e-4 * Math.abs(want))
  })

  it('refuses data of the wrong shape, naming the file', async () => {
    const file = join(dir, 'three.npy')
    writeFileSync(file, encodeNpy([2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)))
    await expect(cli('loglik', '--model', 'examples/models/ring-cfm.onnx', '--data', file)).rejects.toMatchObject({
      stderr: expect.stringMatching(/three\.npy: points have 3 coordinates, the model takes 2/),
    })
  })
})

describe('bayesamp generate', () => {
  // the child is a plain `node` (no --experimental-wasm-relaxed-simd): on Node.js 20 the CLI turns
  // relaxed SIMD on itself, so that a local run uses the fused core as Node.js 22 (the training
  // container, the Lambda functions) does; --core simd still selects the baseline core
  it('computes with the fused core by default, on every supported Node.js, and with the baseline core when asked', async () => {
    for (const [core, evaluator] of [
      ['auto', 'wasm-relaxed'],
      ['simd', 'wasm-simd'],
    ]) {
      const out = join(dir, `gen-${core}.npy`)
      await cli('generate', '--model', 'examples/models/ring-cfm.onnx', '--points', '8192', '--grids', '2', '--workers', '1', '--core', core, '--out', out)
      expect(JSON.parse(readFileSync(out.replace(/\.npy$/, '.json'), 'utf8')).evaluator).toBe(evaluator)
    }
  })
})

describe('AWS commands without credentials', () => {
  // A clean environment: no AWS variables, a home without ~/.aws.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('BAYESAMP_')))
  const bare = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['bin/bayesamp.js', ...args], { cwd: root, env: { ...env, HOME: dir }, timeout: 20_000 })

  it.each([
    ['deploy'],
    ['submit', 'examples/smoke.json'],
    ['status', 'arn:aws:states:eu-west-1:123456789012:execution:m:e'],
    ['download', 's3://bucket/runs/smoke', join(dir, 'dl')],
    ['run', 'examples/smoke.json', '--store', 's3://bucket/prefix'],
    ['report', 's3://bucket/runs/smoke'],
  ])('%s fails at once and says what to set', async (...args) => {
    await expect(bare(...args)).rejects.toMatchObject({ stderr: expect.stringMatching(/no AWS credentials: set AWS_PROFILE .*AWS_ACCESS_KEY_ID/) })
  })
})
