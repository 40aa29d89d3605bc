/**
 * Files that appear whole or not at all: written under a temporary name in the same folder, then
 * renamed over the target (rename is atomic within one file system).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** A temporary sibling of `path`, unique to this call. */
export const tempSibling = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)

/** Writes `data` to `path` atomically, creating the folder if needed. */
export const writeFileAtomic = async (path: string, data: Uint8Array | string): Promise<void> => {
  await mkdir(dirname(path), { recursive: true })
  const tmp = tempSibling(path)
  try {
    await writeFile(tmp, data)
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

/**
 * A file filled piecewise at known offsets (e.g. chunks finishing out of order), renamed into place
 * by `commit`, removed by `abort`.
 */
export interface PositionalFile {
  write(data: Uint8Array, position: number): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
}

export const openPositional = async (path: string): Promise<PositionalFile> => {
  await mkdir(dirname(path), { recursive: true })
  const tmp = tempSibling(path)
  const fh = await open(tmp, 'w')
  let closed = false
  const close = async () => {
    if (!closed) {
      closed = true
      await fh.close()
    }
  }
  return {
    write: async (data, position) => {
      let done = 0
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, position + done)
        done += bytesWritten
      }
    },
    commit: async () => {
      await fh.sync()
      await close()
      await rename(tmp, path)
    },
    abort: async () => {
      await close()
      await rm(tmp, { force: true })
    },
  }
}
