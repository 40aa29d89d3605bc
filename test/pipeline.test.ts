/**
 * The local runner end to end on examples/smoke.json, as a user runs it (child processes): a whole
 * run, a rerun that does nothing, a run killed during generation and resumed (same report.json),
 * missing counts refused with their keys, a malformed config refused with nothing written, and the
 * same run against a real S3-protocol server on loopback (same report.json as on disk).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { S3_CREDENTIALS, type S3Server, startS3Server } from './support/s3-server.ts'

const root = join(import.meta.dirname, '..')
const dir = mkdtempSync(join(tmpdir(), 'bayesamp-pipeline-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const bayesamp = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  promisify(execFile)(process.execPath, ['bin/bayesamp.js', ...args], { cwd: root, env: { ...process.env, ...env } })

const smoke = join(root, 'examples', 'smoke.json')
const reportOf = (store: string) => readFileSync(join(store, 'runs', 'smoke', 'report', 'report.json'), 'utf8')

/** Every file under a folder, recursively. */
const files = (d: string): string[] =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]))

describe('bayesamp run (local, directory store)', () => {
  const store = join(dir, 'whole')
  let first = ''

  it('runs the smoke experiment to a report; a rerun does nothing and writes the same report', async () => {
    const r = await bayesamp(['run', smoke, '--store', store, '--workers', '2'])
    expect(r.stdout).toMatch(/report: .*runs\/smoke\/report\/report\.html/)
    first = reportOf(store)
    const report = JSON.parse(first)
    expect(report.groups.map((g: { group: string }) => g.group).sort()).toEqual(['mcmc-s0.1', 'vib-k10'])
    for (const g of ['vib-k10', 'mcmc-s0.1']) {
      expect(existsSync(join(store, 'runs/smoke', g, 'report.html'))).toBe(true)
      const manifest = JSON.parse(readFileSync(join(store, 'runs/smoke', g, 'seed-1/posterior/manifest.json'), 'utf8'))
      expect(manifest.samples).toHaveLength(4)
      // what fixes the weights' bits: the CLI's core (the fused one, on Node.js 20 too) and the chunks
      expect(manifest.compute).toMatchObject({ core: 'wasm-relaxed', chunks: 8 })
      expect(manifest.compute.threads).toBeGreaterThanOrEqual(1)
    }
    expect(files(store).filter((f) => f.endsWith('.tmp'))).toEqual([])
    const again = await bayesamp(['run', smoke, '--store', store, '--workers', '2'])
    expect(again.stderr).toMatch(/trained 0, generated 0 shard/)
    expect(reportOf(store)).toBe(first)
  })

  it('a run killed during generation finishes on restart with the same report.json', async () => {
    const killed = join(dir, 'killed')
    const child: ChildProcess = spawn(process.execPath, ['bin/bayesamp.js', 'run', smoke, '--store', killed, '--workers', '1'], { cwd: root })
    // wait for the first counts sidecar, then kill without warning
    const counts = () => (existsSync(killed) ? files(killed).filter((f) => /shard-\d+\.json$/.test(f)).length : 0)
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (counts() > 0) {
          clearInterval(poll)
          child.kill('SIGKILL')
          resolve()
        }
      }, 20)
      child.on('exit', () => {
        clearInterval(poll)
        reject(new Error('the run finished before it could be killed'))
      })
    })
    await new Promise((r) => child.once('exit', r))
    expect(existsSync(join(killed, 'runs/smoke/report/report.json'))).toBe(false)
    const partial = counts()
    expect(partial).toBeGreaterThan(0)
    expect(partial).toBeLessThan(32)
    const resumed = await bayesamp(['run', smoke, '--store', killed, '--workers', '2'])
    expect(resumed.stderr).toMatch(/trained 0, generated (\d+) shard/)
    expect(Number(/generated (\d+) shard/.exec(resumed.stderr)![1])).toBe(32 - partial)
    expect(reportOf(killed)).toBe(first)
  })

  it('missing or truncated counts: the report lists their keys and nothing is reported', async () => {
    const holed = join(dir, 'holed')
    cpSync(store, holed, { recursive: true })
    rmSync(join(holed, 'runs/smoke/report'), { recursive: true })
    rmSync(join(holed, 'runs/smoke/vib-k10/seed-1/counts/sample-2/shard-1.npy'))
    // and one truncated: half its bytes
    const cut = join(holed, 'runs/smoke/mcmc-s0.1/seed-0/counts/sample-1/shard-0.npy')
    const bytes = readFileSync(cut)
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1))
    const failure = bayesamp(['report', join(holed, 'runs/smoke')])
    await expect(failure).rejects.toMatchObject({ stderr: expect.stringContaining('vib-k10/seed-1/counts/sample-2/shard-1') })
    await expect(failure).rejects.toMatchObject({ stderr: expect.stringContaining('mcmc-s0.1/seed-0/counts/sample-1/shard-0') })
    expect(existsSync(join(holed, 'runs/smoke/report/report.json'))).toBe(false)
  })

  it('a malformed config is refused with its paths, and nothing is written', async () => {
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(smoke, 'utf8')), seedz: 3, grids: [2, -3] }))
    const out = join(dir, 'bad-store')
    await expect(bayesamp(['run', bad, '--store', out])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/seedz: unknown field[\s\S]*grids\[1\]/),
    })
    expect(existsSync(out)).toBe(false)
  })
})

describe('bayesamp run (S3 store on a loopback S3 server)', () => {
  let s3: S3Server
  beforeAll(async () => {
    s3 = await startS3Server(['bayesamp-test'])
  })
  afterAll(async () => s3?.dispose())

  it('writes the same report.json to S3 as the directory run', async () => {
    const env = {
      BAYESAMP_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    }
    const r = await bayesamp(['run', smoke, '--store', 's3://bayesamp-test/exp', '--workers', '2'], env)
    expect(r.stdout).toMatch(/report: s3:\/\/bayesamp-test\/exp\/runs\/smoke\/report\/report\.html/)
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: S3_CREDENTIALS })
    const obj = await client.send(new GetObjectCommand({ Bucket: 'bayesamp-test', Key: 'exp/runs/smoke/report/report.json' }))
    expect(await obj.Body!.transformToString()).toBe(reportOf(join(dir, 'whole')))

    // bayesamp report on the S3 run rebuilds the same report in place
    await bayesamp(['report', 's3://bayesamp-test/exp/runs/smoke'], env)
    const again = await client.send(new GetObjectCommand({ Bucket: 'bayesamp-test', Key: 'exp/runs/smoke/report/report.json' }))
    expect(await again.Body!.transformToString()).toBe(reportOf(join(dir, 'whole')))

    // and back down: bayesamp download copies the run to a folder
    const local = join(dir, 'downloaded')
    await bayesamp(['download', 's3://bayesamp-test/exp', local], env)
    expect(reportOf(local)).toBe(reportOf(join(dir, 'whole')))
    expect(existsSync(join(local, 'runs/smoke/vib-k10/seed-0/posterior/manifest.json'))).toBe(true)
  })
})
