/**
 * A one-line progress bar on standard error: drawn only on a terminal outside CI, at most ten
 * times a second; elsewhere silent, so logs stay clean.
 */
import colors from 'picocolors'

export const interactive = (): boolean => process.stderr.isTTY === true && !process.env.CI

/** 1234567 → "1.23M". */
export const compact = (v: number): string => {
  const a = Math.abs(v)
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`
  return `${Math.round(v)}`
}

const seconds = (s: number): string =>
  !Number.isFinite(s) ? '?' : s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(0)}s`

export class Progress {
  private readonly started = performance.now()
  private last = 0
  private readonly enabled = interactive()

  constructor(
    private readonly label: string,
    private readonly unit: string,
  ) {}

  update(done: number, total: number, extra = ''): void {
    if (!this.enabled) return
    const now = performance.now()
    if (now - this.last < 100 && done < total) return
    this.last = now
    const elapsed = (now - this.started) / 1000
    const rate = done / Math.max(elapsed, 1e-9)
    const frac = total > 0 ? done / total : 1
    const width = 24
    const filled = Math.round(frac * width)
    const bar = colors.cyan('█'.repeat(filled)) + colors.dim('░'.repeat(width - filled))
    const eta = done > 0 ? (total - done) / rate : Infinity
    const line = `${this.label} ${bar} ${(100 * frac).toFixed(0).padStart(3)}% ${compact(done)}/${compact(total)} ${this.unit} · ${compact(rate)} ${this.unit}/s · ETA ${seconds(eta)}${extra ? ' · ' + extra : ''}`
    process.stderr.write(`\r\x1b[2K${line}`)
  }

  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K')
  }
}
