import { access, mkdtemp, readFile, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reportCommand } from '../../shared/report/command.ts'
import { MissingCountsError } from '../../shared/stats/counts.ts'
import { writeFixtureRun } from './fixture.ts'

const GROUPS = [
  { name: 'mcmc-sigma-0.1', spread: 1 },
  { name: 'vib-k-10', spread: 2 },
]
const shape = { groups: GROUPS, seeds: 3, samples: 4, shards: 2, grids: [2, 3, 4, 6], perBin: 100 }
const quiet = { info: () => {}, warn: () => {} }

describe('report', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bayesamp-report-'))
    await writeFixtureRun(dir, shape)
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reportCommand writes report.json, figures and report.html per group and for the run', async () => {
    const r = await reportCommand({ run: dir, levels: 11, ringPoints: 400 }, quiet)
    expect(r.written).toEqual([join(dir, 'mcmc-sigma-0.1'), join(dir, 'vib-k-10'), join(dir, 'report')])
    for (const out of r.written) {
      await access(join(out, 'report.html'))
      await access(join(out, 'figures', 'fig1-ring.svg'))
      await access(join(out, 'figures', 'fig6-js.png'))
    }
    const json = JSON.parse(await readFile(join(dir, 'report', 'report.json'), 'utf8'))
    expect(json.format).toBe('bayesamp.report/1')
    expect(json.partial).toBeNull()
    expect(json.config).toEqual({ name: 'fixture', trainingSize: 10000 })
    expect(json.groups.map((g: { group: string }) => g.group)).toEqual(['mcmc-sigma-0.1', 'vib-k-10'])
    const g = json.groups[0]
    expect(g.trainingSize).toBe(10000)
    expect(g.grids.map((x: { n: number }) => x.n)).toEqual([2, 3, 4, 6])
    // 2 shards × 100 points per bin per sample, one invalid point per seed (sample 0, shard 0)
    expect(g.grids[0].truthPerBin[0]).toBeGreaterThan(150)
    expect(g.grids[0].invalid).toBe(3)
    expect(g.grids[0].coverage.levels.length).toBe(11)
    expect(json.figures.map((f: { name: string }) => f.name)).toContain('fig3-coverage-vib')
  })

  it('report.html loads every figure without console errors in headless Chromium', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const errors: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text())
      })
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('requestfailed', (q) => errors.push(`failed: ${q.url()}`))
      await page.goto(pathToFileURL(join(dir, 'report', 'report.html')).href, { waitUntil: 'load' })
      const images = await page.$$eval('img', (els) =>
        els.map((e) => ({ src: (e as HTMLImageElement).src, complete: (e as HTMLImageElement).complete, w: (e as HTMLImageElement).naturalWidth })),
      )
      expect(images.length).toBe(6)
      for (const im of images) expect(im, im.src).toMatchObject({ complete: true })
      for (const im of images) expect(im.w, im.src).toBeGreaterThan(0)
      expect(await page.locator('#partial-banner').count()).toBe(0)
      const shot = await mkdtemp(join(tmpdir(), 'bayesamp-shot-'))
      await page.screenshot({ path: join(shot, 'report.png'), fullPage: true })
      await access(join(shot, 'report.png'))
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })

  it('missing counts are an error listing the keys; --allow-partial reports with a banner', async () => {
    await unlink(join(dir, 'vib-k-10/seed-2/counts/sample-3/shard-0.json'))
    const err = await reportCommand({ run: dir, levels: 11, ringPoints: 400 }, quiet).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MissingCountsError)
    expect((err as MissingCountsError).keys).toEqual(['vib-k-10/seed-2/counts/sample-3/shard-0'])

    await reportCommand({ run: dir, levels: 11, ringPoints: 400, allowPartial: true }, quiet)
    const html = await readFile(join(dir, 'report', 'report.html'), 'utf8')
    // the banner comes first in the body and names the key
    expect(html.indexOf('id="partial-banner"')).toBeLessThan(html.indexOf('<h1>'))
    expect(html).toContain('vib-k-10/seed-2/counts/sample-3/shard-0')
    const json = JSON.parse(await readFile(join(dir, 'vib-k-10', 'report.json'), 'utf8'))
    expect(json.partial).toEqual({ missing: ['vib-k-10/seed-2/counts/sample-3/shard-0'] })
    expect(json.groups[0].grids[0].samples).toEqual([4, 4, 3])
    // the other group's own report is complete
    const other = JSON.parse(await readFile(join(dir, 'mcmc-sigma-0.1', 'report.json'), 'utf8'))
    expect(other.partial).toBeNull()
  })

  it('reportCommand refuses s3:// runs and an unknown training size', async () => {
    await expect(reportCommand({ run: 's3://bucket/runs/x' }, quiet)).rejects.toThrow(/s3:\/\/ runs are not supported yet/)
    const empty = await mkdtemp(join(tmpdir(), 'bayesamp-empty-'))
    await expect(reportCommand({ run: empty }, quiet)).rejects.toThrow(/training size N unknown/)
    await rm(empty, { recursive: true })
  })
})
