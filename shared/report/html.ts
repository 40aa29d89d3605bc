/**
 * The static report page: a partial-data banner when counts were missing, the figures (SVG, with
 * the PNG linked), the tables (MD, MAD, MAD_r, MAD_φ, amplification and JS per grid, fit
 * parameters) and the run's config. Self-contained apart from the figure files beside it.
 */
import type { ReportData } from './data.ts'
import type { Figure } from './figures.ts'

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** A number for a table: 4 significant digits, exponent form outside [1e−3, 1e6). */
export const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  if (x === 0) return '0'
  const a = Math.abs(x)
  return a >= 1e-3 && a < 1e6 ? String(Number(x.toPrecision(4))) : x.toExponential(3)
}

const pm = (mean: number, std: number) => `${fmt(mean)} ± ${fmt(std)}`

/** The page's HTML. Figures are referenced as `figures/<name>.svg` and `.png`. */
export const reportHtml = (data: ReportData, figures: readonly Figure[]): string => {
  const banner =
    data.partial === null
      ? ''
      : `<div class="partial" id="partial-banner"><strong>Partial data:</strong> this report was built with --allow-partial; ${data.partial.missing.length} expected count key(s) were missing or unreadable and were left out.<details><summary>missing keys</summary><pre>${esc(data.partial.missing.join('\n'))}</pre></details></div>`
  const figs = figures
    .map(
      (f) =>
        `<figure id="${esc(f.name)}"><img src="figures/${esc(f.name)}.svg" alt="${esc(f.caption)}"><figcaption>${esc(f.caption)} <a href="figures/${esc(f.name)}.png">PNG</a></figcaption></figure>`,
    )
    .join('\n')
  const groupTables = data.groups
    .map((g) => {
      const rows = g.grids
        .map(
          (r) =>
            `<tr><td>${r.n} × ${r.n}</td><td>${r.bins}</td><td>${r.seeds.length}</td><td>${r.samples.join(', ')}</td><td>${fmt(r.coverage.md)}</td><td>${fmt(r.coverage.mad)}</td><td>${fmt(r.coverage.madR)}</td><td>${fmt(r.coverage.madPhi)}</td><td>${pm(r.amplification.total.mean, r.amplification.total.std)}</td><td>${pm(r.amplification.perBin.mean, r.amplification.perBin.std)}</td><td>${pm(r.js.meanPrediction.mean, r.js.meanPrediction.std)}</td><td>${pm(r.js.truthSet.mean, r.js.truthSet.std)}</td><td>${r.invalid}</td></tr>`,
        )
        .join('\n')
      const fit =
        g.fit === null
          ? '<p>Power-law fit: fewer than 3 grids, not fitted.</p>'
          : `<p>Power-law fit a′·x^b of the amplification to the last ${g.fit.bins.length} grids (n_bins ${g.fit.bins.join(', ')}), least squares in log space: a′ = ${pm(g.fit.aPrime, g.fit.aPrimeErr)}, b = ${pm(g.fit.b, g.fit.bErr)}.</p>`
      return `<section class="group"><h3>${esc(g.group)} <small>(method ${esc(g.method)}, ${esc(g.label)}; training size N = ${g.trainingSize})</small></h3>
<table><thead><tr><th>grid</th><th>n_bins</th><th>seeds</th><th>samples</th><th>MD</th><th>MAD</th><th>MAD_r</th><th>MAD_φ</th><th>amplification Σt̂/N</th><th>mean t̂ per bin</th><th>JS mean prediction</th><th>JS truth set of N̂</th><th>invalid points</th></tr></thead>
<tbody>${rows}</tbody></table>${fit}</section>`
    })
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(data.title)}</title>
<style>
body{font-family:'DejaVu Sans',system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
.partial{background:#fff3cd;border:2px solid #d39e00;padding:.8em 1em;margin-bottom:1.5em}
figure{margin:2em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444;margin-top:.4em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}
</style></head>
<body>
${banner}
<h1>${esc(data.title)}</h1>
<p>Calibration (paper section 5) and Bayesian amplification (section 6) from the stored counts. Intervals: ${esc(data.options.intervals)}; ${data.options.levels} nominal levels in [0, 1]; t̂_j estimator: ${data.options.estimator === 'cv' ? 'ḡ_j²/σ_j² (eq. 6.1)' : 'σ_j² (variance only)'}; JS truth set: ${esc(data.options.jsTruthSet)}. Values ± are the standard deviation over training seeds.</p>
<h2>Figures</h2>
${figs}
<h2>Tables</h2>
${groupTables}
<h2>Run config</h2>
<pre id="config">${esc(JSON.stringify(data.config, null, 2))}</pre>
</body></html>
`
}
