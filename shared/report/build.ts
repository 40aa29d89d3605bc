/**
 * Writing a report: `report.json` (every number behind every figure and table),
 * `figures/<name>.svg|png` and `report.html`. Every file is written atomically (a temporary
 * sibling renamed into place), figures first and the page last, so a reader never sees a page
 * whose figures are not there.
 */
import { join } from 'node:path'
import { writeFileAtomic as writeAtomic } from '../io/atomic.ts'
import type { ReportData } from './data.ts'
import { type Figure, reportFigures } from './figures.ts'
import { reportHtml } from './html.ts'
import { renderSvg, svgToPng } from './render.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** JSON with non-finite numbers as null (JSON has no NaN), two-space indented. */
const toJson = (x: unknown): string =>
  JSON.stringify(x, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n'

// -------------------------------------------------------------------------------------
// build
// -------------------------------------------------------------------------------------

export interface BuildOptions {
  /** Figure 1: grid size (default 5) and optional points to draw instead of exact truth draws. */
  readonly ring?: { readonly n?: number; readonly points?: Float64Array; readonly count?: number }
  /** PNG scale relative to the SVG (default 2). */
  readonly pngScale?: number
}

export interface BuiltReport {
  readonly dir: string
  readonly files: string[]
  readonly figures: Figure[]
}

/** Renders the figures of `data` and writes the report into `outDir`. */
export const buildReport = async (data: ReportData, outDir: string, opts: BuildOptions = {}): Promise<BuiltReport> => {
  const figures = reportFigures(data, opts.ring)
  const files: string[] = []
  const put = async (rel: string, body: Uint8Array | string) => {
    await writeAtomic(join(outDir, rel), body)
    files.push(rel)
  }
  for (const f of figures) {
    const svg = await renderSvg(f.spec)
    await put(`figures/${f.name}.svg`, svg)
    await put(`figures/${f.name}.png`, svgToPng(svg, opts.pngScale ?? 2))
  }
  await put('report.json', toJson({ ...data, figures: figures.map((f) => ({ name: f.name, caption: f.caption, data: f.data })) }))
  await put('report.html', reportHtml(data, figures))
  return { dir: outDir, files, figures }
}
