/**
 * The pipeline's four stages, each a `TaskEither` that reads and writes only the object store, under
 * keys that are a pure function of the config and the stage's coordinates (keys.ts). A stage whose
 * output exists is skipped, so reruns, Lambda retries and redrives are safe; its last write (the
 * manifest, the counts sidecar, the report page) is the marker that it completed.
 *
 * The same functions run in the local runner's worker threads, in the Lambda handlers and in the
 * training container.
 */
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import * as A from 'fp-ts/lib/Array.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { Experiment } from '../config/experiment.ts'
import type { Core } from '../core/wasm.ts'
import { generateOrt, generateWasm } from '../generate/generate.ts'
import { countsBytes } from '../generate/output.ts'
import type { GenerationPlan } from '../generate/plan.ts'
import { importOnnx } from '../model/onnx.ts'
import { OrtField } from '../model/ort.ts'
import { reportCommand } from '../report/command.ts'
import type { ObjectStore } from '../store/store.ts'
import { type JobProgress, type TrainJobOptions, trainJob } from '../train/job.ts'
import { posteriorFiles } from '../train/posterior.ts'
import { type PipelineError, configError, stageError } from './errors.ts'
import { type GenerationItem, type Plan, type TrainingJob, canonicalJson, plan, runPrefix, seedPrefix } from './keys.ts'
import { createHash } from 'node:crypto'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What a stage did: its work, or nothing because its output was there. */
export interface StageOutcome {
  readonly skipped: boolean
  readonly seconds: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Runs a promise-returning step as a stage, turning a throw into a `StageError` with coordinates. */
const attempt = <A>(
  stage: string,
  coordinates: Readonly<Record<string, string | number>>,
  f: () => Promise<A>,
): TE.TaskEither<PipelineError, A> => TE.tryCatch(f, (e) => stageError(stage, coordinates, e))

const alreadyDone: TE.TaskEither<PipelineError, StageOutcome> = TE.right({ skipped: true, seconds: 0 })

const timed = <A>(ma: TE.TaskEither<PipelineError, A>): TE.TaskEither<PipelineError, [A, number]> => {
  return () => {
    const t0 = performance.now()
    return TE.map((a: A) => [a, (performance.now() - t0) / 1000] as [A, number])(ma)()
  }
}

// -------------------------------------------------------------------------------------
// plan
// -------------------------------------------------------------------------------------

/** Where the plan's generation items are stored: a JSON array, the Distributed Map's input. */
export const itemsKey = (run: string): string => `${runPrefix(run)}/plan/items.json`

/**
 * Expands the experiment and records it: `config.json` (the decoded config, defaults filled in)
 * and the generation items. A run that exists with a different config is refused, so that a name
 * never mixes two experiments.
 */
export const planStage = (store: ObjectStore, x: Experiment, name?: string): TE.TaskEither<PipelineError, Plan> => {
  const p = plan(x, name)
  const config = encoder.encode(JSON.stringify({ ...x, run: p.run }, null, 2) + '\n')
  return pipe(
    store.exists(p.configKey),
    TE.flatMap((exists) =>
      exists
        ? pipe(
            store.get(p.configKey),
            TE.flatMap((bytes) => {
              const { run: _run, ...stored } = JSON.parse(decoder.decode(bytes)) as Record<string, unknown>
              return canonicalJson(stored) === canonicalJson(JSON.parse(JSON.stringify(x)))
                ? TE.right(undefined)
                : TE.left(configError([`run '${p.run}' exists at ${store.uri(p.configKey)} with a different config; choose another name`]))
            }),
          )
        : store.put(p.configKey, config),
    ),
    TE.flatMap(() => store.put(itemsKey(p.run), encoder.encode(JSON.stringify(p.generations)))),
    TE.map(() => p),
  )
}

// -------------------------------------------------------------------------------------
// train
// -------------------------------------------------------------------------------------

/** One training: its posterior files, the manifest last. Skipped when the manifest exists. */
export const trainStage = (
  store: ObjectStore,
  core: Core,
  x: Experiment,
  run: string,
  job: TrainingJob,
  onProgress?: (p: JobProgress) => void,
  options: TrainJobOptions = {},
): TE.TaskEither<PipelineError, StageOutcome> =>
  pipe(
    store.exists(job.manifestKey),
    TE.flatMap((done): TE.TaskEither<PipelineError, StageOutcome> =>
      done
        ? alreadyDone
        : pipe(
            timed(
              pipe(
                attempt('train', { group: job.group, seed: job.seed }, async () => posteriorFiles(await trainJob(core, x, job, onProgress, options))),
                TE.flatMap((files) =>
                  pipe(
                    files,
                    A.map(([name, bytes]) => store.put(`${seedPrefix(run, job.group, job.seed)}/${name}`, bytes)),
                    TE.sequenceSeqArray,
                  ),
                ),
              ),
            ),
            TE.map(([, seconds]) => ({ skipped: false, seconds })),
          ),
    ),
  )

// -------------------------------------------------------------------------------------
// generate
// -------------------------------------------------------------------------------------

/** The generation plan of one item: the sample's latent stream, the shard's index range. */
export const itemPlan = (x: Experiment, item: GenerationItem): GenerationPlan => ({
  seed: x.generation.seed,
  stream: item.stream,
  grids: x.grids,
  count: x.generation.points,
  solver: x.generation.solver,
  chunkSize: x.generation.chunkSize,
  range: { start: item.start, end: item.end },
})

export interface GenerateStageOptions {
  /** Worker threads for this item; 0 (the default) runs in this thread, as a Lambda or a pool worker does. */
  readonly workers?: number
}

/** One (sample, shard): its counts and sidecar, the sidecar last. Skipped when the sidecar exists. */
export const generateStage = (
  store: ObjectStore,
  x: Experiment,
  item: GenerationItem,
  opts: GenerateStageOptions = {},
): TE.TaskEither<PipelineError, StageOutcome> => {
  const coords = { group: item.group, seed: item.seed, sample: item.sample, shard: item.shard }
  return pipe(
    store.exists(item.sidecarKey),
    TE.flatMap((done): TE.TaskEither<PipelineError, StageOutcome> =>
      done
        ? alreadyDone
        : pipe(
            timed(
              pipe(
                store.get(item.modelKey),
                TE.flatMap((bytes) =>
                  attempt('generate', coords, async () => {
                    const model = { name: item.modelKey, sha256: createHash('sha256').update(bytes).digest('hex') }
                    const imported = importOnnx(bytes, store.uri(item.modelKey))
                    const p = itemPlan(x, item)
                    const result =
                      imported.kind === 'mlp'
                        ? await generateWasm(imported.model, p, { workers: opts.workers ?? 0 })
                        : await generateOrt(await OrtField.create(imported.bytes, store.uri(item.modelKey)), p)
                    return countsBytes(result, model)
                  }),
                ),
                TE.flatMap(({ npy, sidecar }) =>
                  pipe(
                    store.put(item.countsKey, npy),
                    TE.flatMap(() => store.put(item.sidecarKey, sidecar)),
                  ),
                ),
              ),
            ),
            TE.map(([, seconds]) => ({ skipped: false, seconds })),
          ),
    ),
  )
}

// -------------------------------------------------------------------------------------
// reduce
// -------------------------------------------------------------------------------------

export interface ReduceStageOptions {
  readonly allowPartial?: boolean
  /** Only this group's report; absent: every group's and the comparison of all groups. */
  readonly group?: string
  /** A local folder holding the store's objects (the directory store's root), to read in place. */
  readonly localRoot?: string
}

const listFiles = async (dir: string): Promise<string[]> => {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await listFiles(p)))
    else out.push(p)
  }
  return out
}

/**
 * The reports of a run from its stored counts. A directory store is read in place; any other
 * store is mirrored (config and counts) into a temporary folder, and the reports are uploaded back.
 */
export const reduceStage = (store: ObjectStore, x: Experiment, p: Plan, opts: ReduceStageOptions = {}): TE.TaskEither<PipelineError, StageOutcome> => {
  const prefix = runPrefix(p.run)
  const groups = opts.group === undefined ? p.reductions.map((r) => r.group) : [opts.group]
  const expect = {
    groups,
    seeds: Array.from({ length: x.seeds }, (_, s) => s),
    shards: new Set(p.generations.map((g) => g.shard)).size,
    grids: x.grids,
  }
  const coords = { run: p.run, group: opts.group ?? '*' }
  const report = (runDir: string) =>
    attempt('reduce', coords, () =>
      reportCommand(
        { run: runDir, allowPartial: opts.allowPartial, trainingSize: x.trainingSize, expect, levels: x.levels.length },
        { info: () => {}, warn: () => {} },
      ),
    )
  if (opts.localRoot !== undefined)
    return pipe(
      timed(report(join(opts.localRoot, prefix))),
      TE.map(([, seconds]) => ({ skipped: false, seconds })),
    )
  return pipe(
    timed(
      pipe(
        TE.Do as TE.TaskEither<PipelineError, {}>,
        TE.bindW('dir', () => attempt('reduce', coords, () => mkdtemp(join(tmpdir(), 'bayesamp-reduce-')))),
        TE.bindW('keys', () => store.list(`${prefix}/`)),
        TE.flatMap(({ dir, keys }) =>
          pipe(
            keys.filter((k) => k === p.configKey || /\/counts\/sample-\d+\/shard-\d+\.(npy|json)$/.test(k)),
            A.map((k) =>
              pipe(
                store.get(k),
                TE.flatMap((bytes) =>
                  attempt('reduce', coords, async () => {
                    const file = join(dir, k)
                    await mkdir(dirname(file), { recursive: true })
                    await writeFile(file, bytes)
                  }),
                ),
              ),
            ),
            TE.sequenceSeqArray,
            TE.flatMap(() => report(join(dir, prefix))),
            TE.flatMap((r) =>
              pipe(
                attempt('reduce', coords, async () => {
                  const files: string[] = []
                  for (const d of r.written) files.push(...(await listFiles(d)))
                  // the page last: its presence marks a complete report
                  return files.sort((a, b) => Number(a.endsWith('.html')) - Number(b.endsWith('.html')))
                }),
                TE.flatMap((files) =>
                  pipe(
                    files,
                    A.map((f) =>
                      pipe(
                        attempt('reduce', coords, () => readFile(f)),
                        TE.flatMap((bytes) => store.put(`${prefix}/${relative(join(dir, prefix), f).split('\\').join('/')}`, new Uint8Array(bytes))),
                      ),
                    ),
                    TE.sequenceSeqArray,
                  ),
                ),
              ),
            ),
            TE.tapError(() => TE.fromTask(() => rm(dir, { recursive: true, force: true }))),
            TE.tap(() => TE.fromTask(() => rm(dir, { recursive: true, force: true }))),
          ),
        ),
      ),
    ),
    TE.map(([, seconds]) => ({ skipped: false, seconds })),
  )
}
