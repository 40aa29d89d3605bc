/**
 * A real S3-protocol server on loopback for the tests: s3rver 3.7 in a child process.
 *
 * Why a child process: s3rver encrypts `ListObjectsV2` continuation tokens with DES, which Node's
 * OpenSSL 3 offers only through its legacy provider, so the server runs under
 * `node --openssl-legacy-provider` without changing the test runner's own flags. It also lets a
 * test stop the server and start it again on the same port and data, like an outage.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface S3Server {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string
  readonly port: number
  /** Where the server keeps its buckets. */
  readonly directory: string
  /** Stops the server process (the data stays until `dispose`). */
  stop(): Promise<void>
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>
  /** Stops it and removes its directory. */
  dispose(): Promise<void>
}

/** Dummy credentials that s3rver accepts (it checks signatures against this key pair). */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const

const SCRIPT = fileURLToPath(new URL('./s3-server.mjs', import.meta.url))

const launch = (directory: string, buckets: readonly string[], port: number): Promise<[ChildProcess, number]> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--openssl-legacy-provider', SCRIPT, directory, ...buckets], {
      env: { ...process.env, S3_SERVER_PORT: String(port) },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n')) resolve([child, (JSON.parse(line) as { port: number }).port])
    })
    child.on('exit', (code) => reject(new Error(`s3 server exited with code ${code} before listening: ${err}`)))
  })

const terminate = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.on('exit', () => resolve())
    child.kill('SIGTERM')
  })

/** Starts a server with `buckets` created, on a free port of 127.0.0.1. */
export const startS3Server = async (buckets: readonly string[]): Promise<S3Server> => {
  const directory = await mkdtemp(join(tmpdir(), 'bayesamp-s3-'))
  let [child, port] = await launch(directory, buckets, 0)
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    stop: () => terminate(child),
    restart: async () => {
      await terminate(child)
      ;[child, port] = await launch(directory, buckets, port)
    },
    dispose: async () => {
      await terminate(child)
      await rm(directory, { recursive: true, force: true })
    },
  }
}
