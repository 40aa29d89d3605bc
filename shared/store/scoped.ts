/**
 * A view of a store restricted to one prefix (a run's `runs/<run>`): keys are the same full keys
 * as in the underlying store, and any key or list prefix outside `<prefix>/` is refused with
 * `OutsidePrefix` before the store is touched. Keys are checked whole and segment by segment, so
 * `runs/ab/x` is outside `runs/a`, and `runs/a/../b/x` is an `InvalidKey`.
 *
 * This is what a Lambda handler or a training task gets: whatever its event says, it can read and
 * write only its own run.
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'

import { type ObjectStore, checkKey, checkPrefix } from './store.ts'
import { type InvalidKey, invalidKey, type OutsidePrefix, outsidePrefix } from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Whether `key` lies strictly under `prefix/`. */
export const isUnder = (prefix: string, key: string): boolean =>
  key.startsWith(`${prefix}/`) && key.length > prefix.length + 1

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * `store` restricted to keys under `prefix/`; `InvalidKey` when `prefix` itself is not a key.
 *
 * @example
 * const run = scopedStore(store, 'runs/r-1a2b')
 * run.get('runs/other/config.json') // Left OutsidePrefix
 */
export const scopedStore = (store: ObjectStore, prefix: string): E.Either<InvalidKey, ObjectStore> => {
  const bad = checkKey(prefix)
  if (E.isLeft(bad)) return E.left(invalidKey(prefix, `as a scope prefix: ${bad.left.reason}`))

  const inScope = (key: string): E.Either<InvalidKey | OutsidePrefix, string> =>
    pipe(
      checkKey(key),
      E.chainW((k) => (isUnder(prefix, k) ? E.right(k) : E.left(outsidePrefix(k, prefix)))),
    )

  // A list prefix is in scope when it is `prefix/…` or `prefix/` itself.
  const listInScope = (p: string): E.Either<InvalidKey | OutsidePrefix, string> =>
    pipe(
      checkPrefix(p),
      E.chainW((q) => (q.startsWith(`${prefix}/`) ? E.right(q) : E.left(outsidePrefix(q, prefix)))),
    )

  return E.right({
    get: (key) => pipe(TE.fromEither(inScope(key)), TE.chainW(store.get)),
    put: (key, bytes) =>
      pipe(
        TE.fromEither(inScope(key)),
        TE.chainW((k) => store.put(k, bytes)),
      ),
    exists: (key) => pipe(TE.fromEither(inScope(key)), TE.chainW(store.exists)),
    list: (p) => pipe(TE.fromEither(listInScope(p)), TE.chainW(store.list)),
    uri: store.uri,
  })
}
