/**
 * The object store: every stage reads and writes only through this interface, so that one run can
 * live in a directory or in S3 unchanged.
 *
 * Keys are relative, '/'-separated strings (`runs/r-1a2b/vib-k5/seed-0/counts/sample-3/shard-0.npy`).
 * A valid key is non-empty, has no leading or trailing '/', no empty segment, no '.' or '..'
 * segment, no backslash and no control character, and no segment of the form `.<name>.tmp`
 * (reserved for the directory store's temporary files). A list prefix is '' or a valid key,
 * optionally followed by '/'.
 *
 * Semantics shared by every implementation (and checked by the same contract tests):
 * - `get` of an absent key fails with `MissingObject`;
 * - `put` is atomic: a reader sees the old object or the new one, never a part;
 * - `list(prefix)` returns every key that starts with `prefix` (as a string), sorted by code unit.
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'

import { type InvalidKey, invalidKey, type StoreFailure } from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface ObjectStore {
  /** The object's bytes; `MissingObject` when absent. */
  get(key: string): TE.TaskEither<StoreFailure, Uint8Array>
  /** Writes the object atomically, replacing any previous one. */
  put(key: string, bytes: Uint8Array): TE.TaskEither<StoreFailure, void>
  exists(key: string): TE.TaskEither<StoreFailure, boolean>
  /** Keys starting with `prefix`, sorted. */
  list(prefix: string): TE.TaskEither<StoreFailure, string[]>
  /** Where `key` lives, for messages: a file path or an `s3://bucket/key` URI. */
  uri(key: string): string
}

// -------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------

/** The name pattern of the directory store's temporary files (see shared/io/atomic.ts). */
export const TEMP_NAME = /^\..+\.tmp$/

// Control characters C0 and DEL: not portable in file names, awkward in S3 keys and URLs.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/** Why `key` is not a valid object key, or undefined if it is. */
export const keyProblem = (key: string): string | undefined => {
  if (typeof key !== 'string') return 'not a string'
  if (key === '') return 'empty'
  if (key.includes('\\')) return 'contains a backslash'
  if (CONTROL.test(key)) return 'contains a control character'
  if (key.startsWith('/')) return "starts with '/'"
  if (key.endsWith('/')) return "ends with '/'"
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty segment'
    if (segment === '.' || segment === '..') return `has a '${segment}' segment`
    if (TEMP_NAME.test(segment)) return `segment '${segment}' has the form reserved for temporary files`
  }
  if (Buffer.byteLength(key, 'utf8') > 1024) return 'longer than 1024 bytes'
  return undefined
}

/** `key` if valid, else `InvalidKey` naming it and the problem. */
export const checkKey = (key: string): E.Either<InvalidKey, string> => {
  const problem = keyProblem(key)
  return problem === undefined ? E.right(key) : E.left(invalidKey(key, problem))
}

/** `prefix` if it is '' or a valid key with an optional trailing '/'. */
export const checkPrefix = (prefix: string): E.Either<InvalidKey, string> => {
  if (prefix === '') return E.right(prefix)
  const problem = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix)
  return problem === undefined ? E.right(prefix) : E.left(invalidKey(prefix, `as a list prefix: ${problem}`))
}

/** Sorts keys by UTF-16 code unit, the order every store returns. */
export const sortKeys = (keys: string[]): string[] => keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
