import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { S3Client } from '@aws-sdk/client-s3'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { S3_CREDENTIALS, type S3Server, startS3Server } from './support/s3-server.ts'
import { describe as describeError, exitCode, type StoreFailure } from '../shared/pipeline/errors.ts'
import { dirStore } from '../shared/store/dir.ts'
import { openStore, parseLocation } from '../shared/store/open.ts'
import { MIN_PART_SIZE, s3Store, type S3StoreOptions } from '../shared/store/s3.ts'
import { scopedStore } from '../shared/store/scoped.ts'
import { keyProblem, type ObjectStore } from '../shared/store/store.ts'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const run = async <A>(te: TE.TaskEither<StoreFailure, A>): Promise<A> => {
  const r = await te()
  if (E.isLeft(r)) throw new Error(describeError(r.left))
  return r.right
}

const fail = async <A>(te: TE.TaskEither<StoreFailure, A>): Promise<StoreFailure> => {
  const r = await te()
  if (E.isRight(r)) throw new Error(`expected a failure, got ${String(r.right)}`)
  return r.left
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`)
  return e.right
}

/** Bytes that differ from position to position, so that a misplaced part cannot compare equal. */
const pattern = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0 // LCG (Numerical Recipes)
    out[i] = x >>> 24
  }
  return out
}

const INVALID_KEYS = ['', '/a', 'a/', 'a//b', 'a/../b', '..', './a', 'a\\b', 'a/\u0000b', 'a/.b.123.tmp']

// -------------------------------------------------------------------------------------
// the contract every store keeps
// -------------------------------------------------------------------------------------

interface Fixture {
  /** A fresh, empty store. */
  make(): ObjectStore
  /** Large enough to take the store's multipart path (S3), or just large (directory). */
  readonly largeSize: number
}

const contract = (name: string, fixture: () => Fixture) => {
  describe(`${name}: the store contract`, () => {
    it('put then get returns the same bytes', async () => {
      const store = fixture().make()
      const bytes = randomBytes(1000)
      await run(store.put('runs/r/a.bin', bytes))
      expect(Buffer.from(await run(store.get('runs/r/a.bin')))).toEqual(bytes)
    })

    it('an empty object round-trips', async () => {
      const store = fixture().make()
      await run(store.put('e', new Uint8Array(0)))
      expect((await run(store.get('e'))).byteLength).toBe(0)
      expect(await run(store.exists('e'))).toBe(true)
    })

    it('get of an absent key is MissingObject naming the key', async () => {
      const store = fixture().make()
      await run(store.put('runs/r/present', text('x')))
      for (const key of ['runs/r/absent', 'runs/r/present/below', 'runs/r', 'other']) {
        const e = await fail(store.get(key))
        expect(e._tag).toBe('MissingObject')
        expect(e.message).toContain(JSON.stringify(key))
        expect(exitCode(e)).toBe(3)
      }
    })

    it('exists', async () => {
      const store = fixture().make()
      expect(await run(store.exists('a/b'))).toBe(false)
      await run(store.put('a/b', text('x')))
      expect(await run(store.exists('a/b'))).toBe(true)
      // A "folder" of keys is not an object.
      expect(await run(store.exists('a'))).toBe(false)
    })

    it('put over an existing object replaces it whole', async () => {
      const store = fixture().make()
      await run(store.put('k', pattern(5000, 1)))
      await run(store.put('k', text('short')))
      expect(new TextDecoder().decode(await run(store.get('k')))).toBe('short')
      expect(await run(store.list(''))).toEqual(['k'])
    })

    it('list returns the keys with a string prefix, sorted, and nothing else', async () => {
      const store = fixture().make()
      const keys = ['b/2', 'a/b/c', 'a/bc', 'a/b/d/e', 'a/a', 'b/10', 'a/b/c.x']
      for (const k of keys) await run(store.put(k, text(k)))
      expect(await run(store.list(''))).toEqual([...keys].sort())
      expect(await run(store.list('a/b'))).toEqual(['a/b/c', 'a/b/c.x', 'a/b/d/e', 'a/bc'])
      expect(await run(store.list('a/b/'))).toEqual(['a/b/c', 'a/b/c.x', 'a/b/d/e'])
      expect(await run(store.list('b/1'))).toEqual(['b/10'])
      expect(await run(store.list('c/'))).toEqual([])
    })

    it('list pages through more keys than one page holds', async () => {
      const store = fixture().make()
      const keys = Array.from({ length: 7 }, (_, i) => `p/k${i}`)
      for (const k of keys) await run(store.put(k, text(k)))
      expect(await run(store.list('p/'))).toEqual(keys)
    })

    it('a large object round-trips', async () => {
      const { make, largeSize } = fixture()
      const store = make()
      const bytes = pattern(largeSize, 7)
      await run(store.put('big/object.npy', bytes))
      const back = await run(store.get('big/object.npy'))
      expect(back.byteLength).toBe(largeSize)
      expect(Buffer.compare(Buffer.from(back), Buffer.from(bytes))).toBe(0)
    })

    it('refuses malformed keys, naming them, and writes nothing', async () => {
      const store = fixture().make()
      for (const key of INVALID_KEYS) {
        const errors = [await fail(store.put(key, text('x'))), await fail(store.get(key)), await fail(store.exists(key))]
        for (const e of errors) {
          expect(e._tag).toBe('InvalidKey')
          expect(e.message).toContain(JSON.stringify(key))
          expect(exitCode(e)).toBe(2)
        }
      }
      expect((await fail(store.list('/a')))._tag).toBe('InvalidKey')
      expect((await fail(store.list('a/../')))._tag).toBe('InvalidKey')
      expect(await run(store.list(''))).toEqual([])
    })

    it('a scoped view refuses keys outside its prefix and passes the others through', async () => {
      const store = fixture().make()
      const run1 = right(scopedStore(store, 'runs/a'))
      await run(run1.put('runs/a/x/y', text('inside')))
      expect(new TextDecoder().decode(await run(run1.get('runs/a/x/y')))).toBe('inside')
      expect(await run(run1.exists('runs/a/x/y'))).toBe(true)
      expect(await run(run1.list('runs/a/'))).toEqual(['runs/a/x/y'])
      expect(await run(run1.list('runs/a/x'))).toEqual(['runs/a/x/y'])
      for (const key of ['runs/ab/x', 'runs/a', 'runs/b/x', 'other', 'runs/ax']) {
        const failures = [await fail(run1.put(key, text('x'))), await fail(run1.get(key)), await fail(run1.exists(key))]
        for (const e of failures) {
          expect(e._tag).toBe('OutsidePrefix')
          expect(e.message).toContain(JSON.stringify(key))
          expect(e.message).toContain('"runs/a"')
          expect(exitCode(e)).toBe(4)
        }
      }
      for (const p of ['', 'runs/', 'runs/a', 'runs/ab/']) expect((await fail(run1.list(p)))._tag).toBe('OutsidePrefix')
      // A key that climbs out is malformed before it is outside.
      expect((await fail(run1.put('runs/a/../b/x', text('x'))))._tag).toBe('InvalidKey')
      expect(await run(store.list(''))).toEqual(['runs/a/x/y'])
    })
  })
}

// -------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------

describe('keys', () => {
  it('keyProblem accepts the layout keys', () => {
    for (const k of ['runs/r-0a1b/config.json', 'runs/x/vib-k5/seed-0/counts/sample-12/shard-3.npy', 'a', 'a.b/c_d-e'])
      expect(keyProblem(k)).toBeUndefined()
  })

  it('keyProblem names each malformation', () => {
    expect(keyProblem('')).toBe('empty')
    expect(keyProblem('/a')).toBe("starts with '/'")
    expect(keyProblem('a/')).toBe("ends with '/'")
    expect(keyProblem('a//b')).toBe('has an empty segment')
    expect(keyProblem('a/../b')).toBe("has a '..' segment")
    expect(keyProblem('./a')).toBe("has a '.' segment")
    expect(keyProblem('a\\b')).toBe('contains a backslash')
    expect(keyProblem('a\nb')).toBe('contains a control character')
    expect(keyProblem('a/.b.1.tmp')).toMatch(/reserved for temporary files/)
    expect(keyProblem('x'.repeat(1025))).toBe('longer than 1024 bytes')
  })
})

// -------------------------------------------------------------------------------------
// directory store
// -------------------------------------------------------------------------------------

describe('dir', () => {
  let root: string
  let n = 0
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bayesamp-store-'))
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  contract('dir', () => ({ make: () => dirStore(join(root, `s${n++}`)), largeSize: 3 << 20 }))

  it('keys are files under the root; uri is the path', async () => {
    const dir = join(root, 'files')
    const store = dirStore(dir)
    await run(store.put('a/b/c.txt', text('hi')))
    expect(store.uri('a/b/c.txt')).toBe(join(dir, 'a', 'b', 'c.txt'))
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['c.txt'])
  })

  it('readers during an overwrite see the old object or the new one, never a part', async () => {
    const store = dirStore(join(root, 'atomic'))
    const size = 4 << 20
    const a = new Uint8Array(size).fill(1)
    const b = new Uint8Array(size).fill(2)
    await run(store.put('k', a))
    const reads: Uint8Array[] = []
    let writing = true
    const writer = (async () => {
      for (let i = 0; i < 6; i++) await run(store.put('k', i % 2 === 0 ? b : a))
      writing = false
    })()
    while (writing) reads.push(await run(store.get('k')))
    await writer
    expect(reads.length).toBeGreaterThan(0)
    for (const r of reads) {
      expect(r.byteLength).toBe(size)
      // Whole: every byte equals the first (1 or 2).
      expect(r.every((v) => v === r[0])).toBe(true)
    }
    // No temporary files are left behind.
    expect(await readdir(join(root, 'atomic'))).toEqual(['k'])
  })

  it('list skips temporary files of writes in progress', async () => {
    const dir = join(root, 'temps')
    const store = dirStore(dir)
    await run(store.put('a/x', text('x')))
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(dir, 'a', '.y.123.abcd.tmp'), 'partial')
    expect(await run(store.list(''))).toEqual(['a/x'])
  })

  it('a failed write is a StoreError naming the key and the cause', async () => {
    const dir = join(root, 'conflict')
    const store = dirStore(dir)
    await run(store.put('a', text('file')))
    // 'a' is a file, so 'a/b' cannot be created beneath it.
    const e = await fail(store.put('a/b', text('x')))
    expect(e._tag).toBe('StoreError')
    expect(e.message).toContain('"a/b"')
    expect(e.message).toMatch(/put/)
  })
})

// -------------------------------------------------------------------------------------
// S3 store against a loopback S3 server
// -------------------------------------------------------------------------------------

describe('s3', () => {
  const BUCKET = 'bayesamp-test'
  let server: S3Server
  let client: S3Client
  /** Commands the client sent, by name, in order. */
  const sent: string[] = []
  let n = 0

  beforeAll(async () => {
    server = await startS3Server([BUCKET])
    client = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
      maxAttempts: 1,
    })
    client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName ?? '?')
        return next(args)
      },
      { step: 'initialize', name: 'recordCommands' },
    )
  })
  afterAll(async () => {
    client?.destroy()
    await server?.dispose()
  })

  // Parts of the smallest size S3 allows; pages of 3 keys so that 7 keys take 3 pages.
  const options = (prefix: string): S3StoreOptions => ({
    bucket: BUCKET,
    prefix,
    client,
    multipartThreshold: MIN_PART_SIZE,
    partSize: MIN_PART_SIZE,
    pageSize: 3,
  })

  contract('s3', () => ({ make: () => right(s3Store(options(`t${n++}`))), largeSize: 2 * MIN_PART_SIZE + 12345 }))

  it('an object above the threshold is uploaded in parts and completed', async () => {
    const store = right(s3Store(options('multipart')))
    sent.length = 0
    const bytes = pattern(2 * MIN_PART_SIZE + 1, 3)
    await run(store.put('m', bytes))
    expect(sent.filter((c) => c === 'CreateMultipartUploadCommand')).toHaveLength(1)
    expect(sent.filter((c) => c === 'UploadPartCommand')).toHaveLength(3)
    expect(sent.filter((c) => c === 'CompleteMultipartUploadCommand')).toHaveLength(1)
    expect(sent).not.toContain('PutObjectCommand')
    expect(Buffer.compare(Buffer.from(await run(store.get('m'))), Buffer.from(bytes))).toBe(0)
  })

  it('an object at the threshold is one PutObject', async () => {
    const store = right(s3Store(options('single')))
    sent.length = 0
    await run(store.put('s', pattern(MIN_PART_SIZE, 4)))
    expect(sent).toEqual(['PutObjectCommand'])
  })

  it('list follows continuation tokens', async () => {
    const store = right(s3Store(options('pages')))
    for (let i = 0; i < 7; i++) await run(store.put(`k${i}`, text(String(i))))
    sent.length = 0
    expect(await run(store.list(''))).toEqual(Array.from({ length: 7 }, (_, i) => `k${i}`))
    expect(sent).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command', 'ListObjectsV2Command'])
  })

  it('a multipart upload that fails leaves the previous object, whole', async () => {
    const old = pattern(1000, 5)
    const failing = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
      maxAttempts: 1,
    })
    let parts = 0
    const commands: string[] = []
    failing.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName ?? '?')
        if (context.commandName === 'UploadPartCommand' && ++parts === 2) throw new Error('injected part failure')
        return next(args)
      },
      { step: 'initialize', name: 'failSecondPart' },
    )
    try {
      const store = right(s3Store({ ...options('abort'), client: failing }))
      await run(store.put('k', old))
      const e = await fail(store.put('k', pattern(2 * MIN_PART_SIZE + 1, 6)))
      expect(e._tag).toBe('StoreError')
      expect(e.message).toContain('put of "k"')
      // The upload is aborted, never completed. (s3rver 3.7 answers AbortMultipartUpload with 405,
      // which is then the error reported; S3 itself aborts and the part failure is reported.)
      expect(commands).toContain('AbortMultipartUploadCommand')
      expect(commands).not.toContain('CompleteMultipartUploadCommand')
      expect(Buffer.from(await run(store.get('k')))).toEqual(Buffer.from(old))
    } finally {
      failing.destroy()
    }
  })

  it('keys live under the prefix; uri is s3://bucket/prefix/key', async () => {
    const store = right(s3Store(options('pre/fix')))
    await run(store.put('a/b', text('x')))
    expect(store.uri('a/b')).toBe(`s3://${BUCKET}/pre/fix/a/b`)
    const whole = right(s3Store(options('')))
    expect(await run(whole.list('pre/'))).toEqual(['pre/fix/a/b'])
  })

  it('a missing bucket is a StoreError, not a missing object', async () => {
    const store = right(s3Store({ ...options(''), bucket: 'no-such-bucket' }))
    const e = await fail(store.get('a'))
    expect(e._tag).toBe('StoreError')
    expect(e.message).toMatch(/bucket/i)
  })

  it('a server that is down is a StoreError naming the operation and key', async () => {
    const store = right(
      s3Store({
        bucket: BUCKET,
        endpoint: 'http://127.0.0.1:9',
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: S3_CREDENTIALS,
        maxAttempts: 1,
      }),
    )
    const e = await fail(store.put('runs/r/x', text('x')))
    expect(e._tag).toBe('StoreError')
    expect(e.message).toContain('put of "runs/r/x" (s3://bayesamp-test/runs/r/x)')
  })
})

// -------------------------------------------------------------------------------------
// open
// -------------------------------------------------------------------------------------

describe('open', () => {
  it('parseLocation', () => {
    expect(parseLocation('runs')).toEqual(E.right({ kind: 'dir', path: 'runs' }))
    expect(parseLocation('s3://b')).toEqual(E.right({ kind: 's3', bucket: 'b', prefix: '' }))
    expect(parseLocation('s3://my-bucket/a/b/')).toEqual(E.right({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b' }))
  })

  it('refuses locations it cannot open, saying what to give', () => {
    for (const [location, message] of [
      ['', /empty/],
      ['s3://', /names no bucket/],
      ['s3:///x', /names no bucket/],
      ['gs://b/p', /only directories and s3:\/\//],
      ['s3://Bad_Bucket/p', /not a valid bucket name/],
      ['s3://bucket/a/../b', /prefix .* is not valid/],
    ] as const) {
      const r = openStore(location)
      expect(E.isLeft(r) && r.left._tag === 'UsageError' && message.test(r.left.message)).toBe(true)
    }
  })

  it('openStore gives a directory store or an S3 store', () => {
    const dir = right(openStore('some/dir'))
    expect(dir.uri('a/b')).toMatch(/some[/\\]dir[/\\]a[/\\]b$/)
    const s3 = right(openStore('s3://bucket/run-prefix', { region: 'eu-west-1' }))
    expect(s3.uri('a/b')).toBe('s3://bucket/run-prefix/a/b')
  })
})
