/**
 * The directory object store, the embedded default: key `a/b/c` is the file `<root>/a/b/c`.
 *
 * `put` writes a temporary sibling (`.c.<pid>.<random>.tmp`) and renames it over the target, which
 * is atomic within one file system (shared/io/atomic.ts); folders are created as needed. `list`
 * walks the folders below the prefix, skips temporary files, and sorts the keys. A key whose path
 * runs through a file, or names a folder, is simply absent (`MissingObject` for `get`).
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'

import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'

import { type ObjectStore, checkKey, checkPrefix, sortKeys, TEMP_NAME } from './store.ts'
import { writeFileAtomic } from '../io/atomic.ts'
import { missingObject, type StoreFailure, storeError } from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Error codes meaning "no such object": absent, a file where a folder is expected, a folder. */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'EISDIR'])

const codeOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** Every file below `dir`, as '/'-joined paths relative to `root`; temporary files skipped. */
const walk = async (root: string, rel: string): Promise<string[]> => {
  let entries
  try {
    entries = await readdir(rel === '' ? root : join(root, ...rel.split('/')), { withFileTypes: true })
  } catch (e) {
    if (ABSENT.has(codeOf(e) ?? '')) return []
    throw e
  }
  const out: string[] = []
  for (const entry of entries) {
    const key = rel === '' ? entry.name : `${rel}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await walk(root, key)))
    else if (entry.isFile() && !TEMP_NAME.test(entry.name)) out.push(key)
  }
  return out
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A store rooted at the folder `root` (resolved against the working directory; created by the
 * first `put`).
 *
 * @example
 * const store = dirStore('runs-here')
 * await store.put('runs/r/config.json', bytes)() // writes runs-here/runs/r/config.json
 */
export const dirStore = (root: string): ObjectStore => {
  const base = resolve(root)
  const pathOf = (key: string): string => join(base, ...key.split('/'))
  const uri = (key: string): string => pathOf(key)

  const get = (key: string): TE.TaskEither<StoreFailure, Uint8Array> =>
    pipe(
      TE.fromEither(checkKey(key)),
      TE.chainW((k) =>
        TE.tryCatch(
          async () => new Uint8Array(await readFile(pathOf(k))),
          (e) => (ABSENT.has(codeOf(e) ?? '') ? missingObject(k, uri(k)) : storeError('get', k, uri(k), e)),
        ),
      ),
    )

  const put = (key: string, bytes: Uint8Array): TE.TaskEither<StoreFailure, void> =>
    pipe(
      TE.fromEither(checkKey(key)),
      TE.chainW((k) =>
        TE.tryCatch(
          () => writeFileAtomic(pathOf(k), bytes),
          (e) => storeError('put', k, uri(k), e),
        ),
      ),
    )

  const exists = (key: string): TE.TaskEither<StoreFailure, boolean> =>
    pipe(
      TE.fromEither(checkKey(key)),
      TE.chainW((k) =>
        TE.tryCatch(
          async () => {
            try {
              return (await stat(pathOf(k))).isFile()
            } catch (e) {
              if (ABSENT.has(codeOf(e) ?? '')) return false
              throw e
            }
          },
          (e) => storeError('exists', k, uri(k), e),
        ),
      ),
    )

  const list = (prefix: string): TE.TaskEither<StoreFailure, string[]> =>
    pipe(
      TE.fromEither(checkPrefix(prefix)),
      TE.chainW((p) => {
        // Walk only the deepest folder that every match lies in: the prefix up to its last '/'.
        const folder = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : ''
        return TE.tryCatch(
          async () => sortKeys((await walk(base, folder)).filter((k) => k.startsWith(p))),
          (e) => storeError('list', p, uri(folder), e),
        )
      }),
    )

  return { get, put, exists, list, uri }
}
