/**
 * The pipeline's errors: one tagged union (`_tag`), carried as values in `Either`/`TaskEither`.
 * They become a process exit code or a message in exactly one place each, `exitCode` and
 * `describe`; everything else passes them on untouched.
 *
 * Exit codes (documented for scripts):
 *
 * | code | errors |
 * | --- | --- |
 * | 1 | `StageError` (a stage failed while computing) |
 * | 2 | `UsageError`, `ConfigError`, `InvalidKey` (the input is wrong; nothing was written) |
 * | 3 | `StoreError`, `MissingObject` (the object store failed or lacks an object) |
 * | 4 | `OutsidePrefix` (a key outside the run's prefix was refused) |
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A command line or location that cannot be used (e.g. `--store s3://`). */
export interface UsageError {
  readonly _tag: 'UsageError'
  readonly message: string
}

/** An experiment config (or event) that does not decode; `problems` are `path: problem` lines. */
export interface ConfigError {
  readonly _tag: 'ConfigError'
  readonly message: string
  /** Where the config came from (a file path, 'event'), when known. */
  readonly source?: string
  readonly problems: readonly string[]
}

/** A malformed object key (`..`, a leading '/', an empty segment, a backslash, …). */
export interface InvalidKey {
  readonly _tag: 'InvalidKey'
  readonly message: string
  readonly key: string
  readonly reason: string
}

/** The object store failed: I/O, network, permissions. */
export interface StoreError {
  readonly _tag: 'StoreError'
  readonly message: string
  readonly operation: 'get' | 'put' | 'exists' | 'list' | 'open'
  readonly key: string
  /** Where the store keeps `key` (path or s3:// URI). */
  readonly uri: string
  /** The underlying error's message. */
  readonly cause: string
}

/** An object that was asked for and is not in the store. */
export interface MissingObject {
  readonly _tag: 'MissingObject'
  readonly message: string
  readonly key: string
  readonly uri: string
}

/** A key outside the prefix a scoped store is restricted to. */
export interface OutsidePrefix {
  readonly _tag: 'OutsidePrefix'
  readonly message: string
  readonly key: string
  readonly prefix: string
}

/** A stage (train, generate, reduce, …) failed at some coordinates. */
export interface StageError {
  readonly _tag: 'StageError'
  readonly message: string
  readonly stage: string
  /** The unit of work, e.g. `{ group: 'vib-k5', seed: 0, sample: 3, shard: 1 }`. */
  readonly coordinates: Readonly<Record<string, string | number>>
  readonly cause: string
}

/** The errors an object store can return. */
export type StoreFailure = StoreError | MissingObject | InvalidKey | OutsidePrefix

/** Every error of the pipeline. */
export type PipelineError =
  | UsageError
  | ConfigError
  | InvalidKey
  | StoreError
  | MissingObject
  | OutsidePrefix
  | StageError

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** The message of anything thrown or rejected. */
export const causeOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const usageError = (message: string): UsageError => ({ _tag: 'UsageError', message })

export const configError = (problems: readonly string[], source?: string): ConfigError => {
  const from = source === undefined ? '' : ` ${source}`
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`
  const message = `invalid config${from}: ${count}`
  return { _tag: 'ConfigError', message, ...(source === undefined ? {} : { source }), problems }
}

export const invalidKey = (key: string, reason: string): InvalidKey => ({
  _tag: 'InvalidKey',
  message: `invalid object key ${JSON.stringify(key)}: ${reason}`,
  key,
  reason,
})

export const storeError = (
  operation: StoreError['operation'],
  key: string,
  uri: string,
  cause: unknown,
): StoreError => ({
  _tag: 'StoreError',
  message: `object store ${operation} of ${JSON.stringify(key)} (${uri}) failed: ${causeOf(cause)}`,
  operation,
  key,
  uri,
  cause: causeOf(cause),
})

export const missingObject = (key: string, uri: string): MissingObject => ({
  _tag: 'MissingObject',
  message: `object ${JSON.stringify(key)} does not exist (${uri})`,
  key,
  uri,
})

export const outsidePrefix = (key: string, prefix: string): OutsidePrefix => ({
  _tag: 'OutsidePrefix',
  message: `key ${JSON.stringify(key)} is outside the prefix ${JSON.stringify(prefix)} and was refused`,
  key,
  prefix,
})

export const stageError = (
  stage: string,
  coordinates: Readonly<Record<string, string | number>>,
  cause: unknown,
): StageError => {
  const at = Object.entries(coordinates)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
  return {
    _tag: 'StageError',
    message: `${stage}${at === '' ? '' : ` (${at})`} failed: ${causeOf(cause)}`,
    stage,
    coordinates,
    cause: causeOf(cause),
  }
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The process exit code of an error (see the table in the module doc). */
export const exitCode = (e: PipelineError): number => {
  switch (e._tag) {
    case 'StageError':
      return 1
    case 'UsageError':
    case 'ConfigError':
    case 'InvalidKey':
      return 2
    case 'StoreError':
    case 'MissingObject':
      return 3
    case 'OutsidePrefix':
      return 4
  }
}

/** The full human-readable text of an error: its message, then one indented line per problem. */
export const describe = (e: PipelineError): string =>
  e._tag === 'ConfigError' ? [e.message, ...e.problems.map((p) => `  - ${p}`)].join('\n') : e.message
