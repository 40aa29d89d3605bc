/** A levelled logger on standard error (silent < error < warn < info). */
import colors from 'picocolors'

export type LogLevel = 'silent' | 'error' | 'warn' | 'info'

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3 }

export interface Logger {
  info(msg: string): void
  warn(msg: string): void
  error(msg: string): void
}

export const createLogger = (level: LogLevel = 'info'): Logger => {
  if (!(level in rank)) throw new RangeError(`--logLevel must be one of silent, error, warn, info; got '${level}'`)
  const at = rank[level]
  return {
    info: (msg) => at >= rank.info && console.error(msg),
    warn: (msg) => at >= rank.warn && console.error(colors.yellow(msg)),
    error: (msg) => at >= rank.error && console.error(colors.red(msg)),
  }
}
