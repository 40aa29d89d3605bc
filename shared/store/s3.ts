/**
 * The S3 object store (`@aws-sdk/client-s3`), for AWS and for any S3-compatible server (custom
 * `endpoint`, path-style addressing).
 *
 * Key `k` is the S3 key `<prefix>/k` in `bucket`. Writes are atomic as S3 makes them: an object
 * appears when a single PUT completes, or when a multipart upload is completed. Objects larger
 * than `multipartThreshold` go through `@aws-sdk/lib-storage`'s `Upload` in parts of `partSize`
 * (S3 requires at least 5 MiB per part but the last); an upload that fails is aborted, so no
 * partial object ever appears. `list` follows `ListObjectsV2` continuation tokens page by page.
 *
 * Credentials and, when not given, the region come from the SDK's default chain (environment,
 * shared config files, container or instance roles).
 *
 * S3 answers a GET or HEAD of an absent key with 404 only to a caller allowed to `s3:ListBucket`
 * on the bucket; without it the answer is 403, reported here as a `StoreError` (access denied),
 * not as `MissingObject`. Roles that run stages therefore need list permission on their prefix.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'

import { type ObjectStore, checkKey, checkPrefix, keyProblem, sortKeys } from './store.ts'
import {
  causeOf,
  missingObject,
  type StoreFailure,
  storeError,
  type UsageError,
  usageError,
} from '../pipeline/errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface S3StoreOptions {
  readonly bucket: string
  /** Key prefix inside the bucket, without leading or trailing '/'. @default '' */
  readonly prefix?: string
  /** An S3-compatible endpoint, e.g. `http://127.0.0.1:4568`. @default - AWS's endpoint for the region */
  readonly endpoint?: string
  /** @default - the SDK's default chain; 'us-east-1' when an endpoint is given and the chain has none */
  readonly region?: string
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. @default false */
  readonly forcePathStyle?: boolean
  /** Explicit credentials. @default - the SDK's default credential chain */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: string
    readonly sessionToken?: string
  }
  /** Objects larger than this many bytes are uploaded in parts. @default 8 MiB */
  readonly multipartThreshold?: number
  /** Bytes per part of a multipart upload, at least 5 MiB. @default 8 MiB */
  readonly partSize?: number
  /** Parts uploaded concurrently. @default 4 */
  readonly queueSize?: number
  /** Keys per `ListObjectsV2` page (1 … 1000). @default 1000 */
  readonly pageSize?: number
  /** Attempts per request, including the first (the SDK retries with backoff). @default 3 */
  readonly maxAttempts?: number
  /** Use this client instead of building one (the connection options above are then ignored). */
  readonly client?: S3Client
}

/** S3's smallest part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** S3 bucket names: 3–63 characters, lowercase letters, digits, '.', '-', starting and ending alphanumerically. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** The SDK's "no such object" errors: `NoSuchKey` (GET) and `NotFound` (HEAD, no body to name it). */
const isNoSuchKey = (e: unknown): boolean => {
  const name = (e as { name?: string } | undefined)?.name
  return name === 'NoSuchKey' || name === 'NotFound'
}

/** The message of an S3 failure with its HTTP status, when the SDK reports one. */
export const s3Cause = (e: unknown): string => {
  const status = (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode
  return status === undefined ? causeOf(e) : `${causeOf(e)} (HTTP ${status})`
}

/** Checks the options; returns the problem as a `UsageError`. */
export const s3OptionsProblem = (o: S3StoreOptions): UsageError | undefined => {
  if (!BUCKET.test(o.bucket)) return usageError(`S3 bucket name ${JSON.stringify(o.bucket)} is not a valid bucket name`)
  if (o.prefix !== undefined && o.prefix !== '' && keyProblem(o.prefix) !== undefined)
    return usageError(`S3 prefix ${JSON.stringify(o.prefix)} is not valid: ${keyProblem(o.prefix)}`)
  const partSize = o.partSize ?? DEFAULT_PART_SIZE
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE)
    return usageError(`S3 partSize must be an integer of at least ${MIN_PART_SIZE} bytes (5 MiB), got ${partSize}`)
  const threshold = o.multipartThreshold ?? DEFAULT_PART_SIZE
  if (!Number.isSafeInteger(threshold) || threshold < 0)
    return usageError(`S3 multipartThreshold must be a non-negative integer, got ${threshold}`)
  const pageSize = o.pageSize ?? 1000
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    return usageError(`S3 pageSize must be an integer in [1, 1000], got ${pageSize}`)
  return undefined
}

/** A client from the connection options. */
export const s3Client = (o: S3StoreOptions): S3Client => {
  const config: S3ClientConfig = {
    ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
    ...(o.region !== undefined
      ? { region: o.region }
      : o.endpoint !== undefined && process.env.AWS_REGION === undefined && process.env.AWS_DEFAULT_REGION === undefined
        ? { region: 'us-east-1' }
        : {}),
    ...(o.forcePathStyle === undefined ? {} : { forcePathStyle: o.forcePathStyle }),
    ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
    maxAttempts: o.maxAttempts ?? 3,
  }
  return new S3Client(config)
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * An S3 store, or a `UsageError` for malformed options (nothing is contacted until the first call).
 *
 * @example
 * s3Store({ bucket: 'runs', endpoint: 'http://127.0.0.1:4568', forcePathStyle: true })
 */
export const s3Store = (o: S3StoreOptions): E.Either<UsageError, ObjectStore> => {
  const problem = s3OptionsProblem(o)
  if (problem !== undefined) return E.left(problem)
  const client = o.client ?? s3Client(o)
  const bucket = o.bucket
  const base = (o.prefix ?? '').replace(/\/$/, '')
  const threshold = o.multipartThreshold ?? DEFAULT_PART_SIZE
  const partSize = o.partSize ?? DEFAULT_PART_SIZE
  const queueSize = o.queueSize ?? 4
  const pageSize = o.pageSize ?? 1000
  const s3Key = (key: string): string => (base === '' ? key : `${base}/${key}`)
  const uri = (key: string): string => `s3://${bucket}/${s3Key(key)}`

  const get = (key: string): TE.TaskEither<StoreFailure, Uint8Array> =>
    pipe(
      TE.fromEither(checkKey(key)),
      TE.chainW((k) =>
        TE.tryCatch(
          async () => {
            const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: s3Key(k) }))
            if (r.Body === undefined) throw new Error('response has no body')
            return await r.Body.transformToByteArray()
          },
          (e) => (isNoSuchKey(e) ? missingObject(k, uri(k)) : storeError('get', k, uri(k), s3Cause(e))),
        ),
      ),
    )

  const upload = async (k: string, bytes: Uint8Array): Promise<void> => {
    if (bytes.byteLength <= threshold) {
      const params = { Bucket: bucket, Key: s3Key(k), Body: bytes, ContentLength: bytes.byteLength }
      await client.send(new PutObjectCommand(params))
      return
    }
    // Upload aborts the multipart upload on failure (leavePartsOnError false): nothing appears.
    await new Upload({
      client,
      params: { Bucket: bucket, Key: s3Key(k), Body: bytes },
      partSize,
      queueSize,
      leavePartsOnError: false,
    }).done()
  }

  const put = (key: string, bytes: Uint8Array): TE.TaskEither<StoreFailure, void> =>
    pipe(
      TE.fromEither(checkKey(key)),
      TE.chainW((k) =>
        TE.tryCatch(
          () => upload(k, bytes),
          (e) => storeError('put', k, uri(k), s3Cause(e)),
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
              await client.send(new HeadObjectCommand({ Bucket: bucket, Key: s3Key(k) }))
              return true
            } catch (e) {
              if (isNoSuchKey(e)) return false
              throw e
            }
          },
          (e) => storeError('exists', k, uri(k), s3Cause(e)),
        ),
      ),
    )

  const list = (prefix: string): TE.TaskEither<StoreFailure, string[]> =>
    pipe(
      TE.fromEither(checkPrefix(prefix)),
      TE.chainW((p) =>
        TE.tryCatch(
          async () => {
            const strip = base === '' ? 0 : base.length + 1
            const keys: string[] = []
            let token: string | undefined
            do {
              const page = await client.send(
                new ListObjectsV2Command({
                  Bucket: bucket,
                  Prefix: base === '' ? p : `${base}/${p}`,
                  MaxKeys: pageSize,
                  ...(token === undefined ? {} : { ContinuationToken: token }),
                }),
              )
              for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key.slice(strip))
              token = page.IsTruncated ? page.NextContinuationToken : undefined
            } while (token !== undefined)
            return sortKeys(keys)
          },
          (e) => storeError('list', p, `s3://${bucket}/${s3Key(p)}`, s3Cause(e)),
        ),
      ),
    )

  return E.right({ get, put, exists, list, uri })
}
