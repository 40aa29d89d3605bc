/**
 * The AWS entry points against a loopback S3 server: events are decoded with errors naming the
 * path, keys outside the run are refused, a malformed config fails the plan with its problems, and
 * every unit of work logs one JSON line. (The whole state machine runs in sfn.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { handler as generate } from '../functions/generate.ts'
import { handler as plan } from '../functions/plan.ts'
import { handler as reduce } from '../functions/reduce.ts'
import { jobFromEnv, threadsFromEnv } from '../functions/train.ts'
import { S3_CREDENTIALS, type S3Server, startS3Server } from './support/s3-server.ts'

let s3: S3Server
const saved = { ...process.env }
beforeAll(async () => {
  s3 = await startS3Server(['fn-bucket'])
  Object.assign(process.env, {
    BAYESAMP_BUCKET: 'fn-bucket',
    BAYESAMP_PREFIX: 'p',
    BAYESAMP_S3_ENDPOINT: s3.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  })
})
afterAll(async () => {
  process.env = saved
  await s3?.dispose()
})

describe('functions', () => {
  it('plan refuses a malformed config, naming the paths, and logs the failure as JSON', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    await expect(plan({ config: { methods: { vib: { k: [-1] } }, seedz: 1 }, run: 'bad' })).rejects.toThrow(/seedz: unknown field[\s\S]*methods\.vib\.k\[0\]/)
    const line = JSON.parse(String(log.mock.calls.at(-1)![0]))
    expect(line).toMatchObject({ stage: 'plan', outcome: 'failed', error: 'ConfigError' })
    log.mockRestore()
  })

  it('events that do not fit are refused with the path that is wrong', async () => {
    await expect(generate({ run: 'r', group: 'vib-k1', seed: '0', sample: 0, shard: 0 })).rejects.toThrow(/generate: invalid event: .*seed/)
    await expect(plan({ run: 'r' })).rejects.toThrow(/plan: invalid event: .*config/)
  })

  it('a run name that would leave the run prefix is refused', async () => {
    await expect(reduce({ run: '../other' })).rejects.toThrow(/run "\.\.\/other" cannot be a key segment/)
    await expect(generate({ run: 'a/b', group: 'g', seed: 0, sample: 0, shard: 0 })).rejects.toThrow(/cannot be a key segment/)
  })

  it('a run that was never planned is a missing object, not a crash', async () => {
    await expect(reduce({ run: 'never' })).rejects.toThrow(/runs\/never\/config\.json/)
  })

  it('the training task reads its job from the environment and says what is missing', () => {
    expect(jobFromEnv({ RUN: 'r', GROUP: 'vib-k1', SEED: '3' })).toEqual({ _tag: 'Right', right: { run: 'r', group: 'vib-k1', seed: 3 } })
    expect(jobFromEnv({ RUN: 'r' })).toMatchObject({ _tag: 'Left', left: { message: expect.stringMatching(/GROUP, SEED not set/) } })
    expect(jobFromEnv({ RUN: 'r', GROUP: 'g', SEED: '-1' })).toMatchObject({ _tag: 'Left', left: { message: expect.stringMatching(/SEED must be/) } })
  })

  it('reads the training threads from BAYESAMP_TRAIN_THREADS (1 when unset)', () => {
    expect(threadsFromEnv({})).toEqual({ _tag: 'Right', right: 1 })
    expect(threadsFromEnv({ BAYESAMP_TRAIN_THREADS: '4' })).toEqual({ _tag: 'Right', right: 4 })
    for (const bad of ['0', '2.5', 'four'])
      expect(threadsFromEnv({ BAYESAMP_TRAIN_THREADS: bad })).toMatchObject({
        _tag: 'Left',
        left: { message: expect.stringMatching(/BAYESAMP_TRAIN_THREADS must be an integer from 1 to 256/) },
      })
  })
})
