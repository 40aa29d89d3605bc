/** .npy encoding and decoding: round trips for every dtype, Node Buffers, and malformed files. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { datasetProblem } from '../shared/data/dataset.ts'
import { decodeNpy, encodeNpy, readNpy } from '../shared/io/npy.ts'

const dir = mkdtempSync(join(tmpdir(), 'bayesamp-npy-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npy', () => {
  it('round-trips every dtype', () => {
    const arrays = [
      Float32Array.of(1.5, -2, 3),
      Float64Array.of(Math.PI, -0, 1e300),
      Int32Array.of(-1, 2, 3),
      BigInt64Array.of(-1n, 2n ** 40n, 3n),
      Uint32Array.of(0, 2 ** 32 - 1, 7),
    ]
    for (const a of arrays) {
      const back = decodeNpy(encodeNpy([3], a))
      expect(back.shape).toEqual([3])
      expect(Array.from(back.data as ArrayLike<number | bigint>)).toEqual(Array.from(a as ArrayLike<number | bigint>))
    }
  })

  it('decodes a Node Buffer read from disk (its memory is a shared pool)', async () => {
    const file = join(dir, 'a.npy')
    writeFileSync(file, encodeNpy([2, 2], Float32Array.of(1, 2, 3, 4)))
    // A small Buffer from readFileSync lives at an offset inside a larger pool.
    const buf = readFileSync(file)
    expect(Array.from(decodeNpy(buf).data as Float32Array)).toEqual([1, 2, 3, 4])
    expect(Array.from((await readNpy(file)).data as Float32Array)).toEqual([1, 2, 3, 4])
  })

  it('names the file and the problem', async () => {
    const file = join(dir, 'bad.npy')
    writeFileSync(file, 'not numpy')
    await expect(readNpy(file)).rejects.toThrow(/bad\.npy: not a usable \.npy file: missing the \\x93NUMPY magic/)
    const trunc = encodeNpy([4], Float64Array.of(1, 2, 3, 4)).subarray(0, 140)
    expect(() => decodeNpy(trunc, 'cut.npy')).toThrow(/cut\.npy: .*needs 32 data bytes, the file has/)
    await expect(readNpy(join(dir, 'missing.npy'))).rejects.toThrow(/missing\.npy: no such file/)
  })

  it('training sets must be finite float [N, d]', () => {
    expect(datasetProblem(decodeNpy(encodeNpy([2, 2], Float32Array.of(1, 2, 3, 4))))).toBeUndefined()
    expect(datasetProblem(decodeNpy(encodeNpy([4], Float32Array.of(1, 2, 3, 4))))).toMatch(/not \[N, d\]/)
    expect(datasetProblem(decodeNpy(encodeNpy([2, 2], Int32Array.of(1, 2, 3, 4))))).toMatch(/not float32 or float64/)
    expect(datasetProblem(decodeNpy(encodeNpy([2, 2], Float64Array.of(1, 2, NaN, 4))))).toMatch(/row 1, column 0\) is not finite/)
  })
})
