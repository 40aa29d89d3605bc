/**
 * Opening a store from a location string, as the command line and the Lambda environment give it:
 * `s3://bucket` or `s3://bucket/prefix` for S3, anything else a directory path.
 */
import * as E from 'fp-ts/lib/Either.js'

import { dirStore } from './dir.ts'
import { s3Store, type S3StoreOptions } from './s3.ts'
import type { ObjectStore } from './store.ts'
import { type UsageError, usageError } from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type StoreLocation =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string }

/** Options for an S3 location: everything but the bucket and prefix, which the location gives. */
export type OpenOptions = Omit<S3StoreOptions, 'bucket' | 'prefix'>

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Parses `s3://bucket[/prefix]` or a directory path (an empty location is an error). */
export const parseLocation = (location: string): E.Either<UsageError, StoreLocation> => {
  if (location === '') return E.left(usageError('store location is empty: give a directory or s3://bucket/prefix'))
  if (!/^s3:\/\//i.test(location)) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
      return E.left(
        usageError(`store location ${JSON.stringify(location)}: only directories and s3:// URIs are supported`),
      )
    return E.right({ kind: 'dir', path: location })
  }
  const rest = location.slice('s3://'.length)
  const slash = rest.indexOf('/')
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '')
  if (bucket === '')
    return E.left(usageError(`store location ${JSON.stringify(location)} names no bucket: use s3://bucket/prefix`))
  return E.right({ kind: 's3', bucket, prefix })
}

/**
 * The store at `location`: a directory store, or an S3 store configured by `options` (endpoint,
 * region, path style, credentials, multipart sizes).
 *
 * @example
 * openStore('runs')                                   // the folder ./runs
 * openStore('s3://my-bucket/bayesamp', { region: 'eu-central-1' })
 */
export const openStore = (location: string, options: OpenOptions = {}): E.Either<UsageError, ObjectStore> => {
  const parsed = parseLocation(location)
  if (E.isLeft(parsed)) return parsed
  const l = parsed.right
  return l.kind === 'dir' ? E.right(dirStore(l.path)) : s3Store({ ...options, bucket: l.bucket, prefix: l.prefix })
}

/**
 * S3 options from the environment, for S3-compatible servers: `BAYESAMP_S3_ENDPOINT` (e.g.
 * `http://127.0.0.1:4568`, implies path-style addressing unless `BAYESAMP_S3_PATH_STYLE=0`);
 * region and credentials come from the AWS SDK's default chain (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, …).
 */
export const envStoreOptions = (env: NodeJS.ProcessEnv = process.env): OpenOptions => {
  const endpoint = env.BAYESAMP_S3_ENDPOINT
  if (endpoint === undefined || endpoint === '') return {}
  return { endpoint, forcePathStyle: env.BAYESAMP_S3_PATH_STYLE !== '0' }
}
