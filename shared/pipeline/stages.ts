/**
 * The pipeline's four stages, each a `TaskEither` that reads and writes only the object store, under
 * keys that are a pure function of the config and the stage's coordinates (keys.ts). A stage whose
 * output exists is skipped, so reruns, Lambda retries and redrives are safe; its last write (the
 * manifest, the counts sidecar, the report page) is the marker that it completed.
 *
 * The same functions run in the local runner's worker threads, in the Lambda handlers and in the
 * training container.
 */
import * as A from 'fp-ts/lib/Array.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { type Experiment, decodeExperiment } from '../config/experiment.ts'
import type { Core } from '../core/wasm.ts'
import { generateOrt, generateWasm } from '../generate/generate.ts'
import { countsBytes } from '../generate/output.ts'
import type { GenerationPlan } from '../generate/plan.ts'
import { importOnnx } from '../model/onnx.ts'
import { OrtField } from '../model/ort.ts'
import type { ObjectStore } from '../store/store.ts'
import { type JobProgress, type TrainJobOptions, trainJob } from '../train/job.ts'
import { posteriorFiles } from '../train/posterior.ts'
import { type PipelineError, configError, stageError } from './errors.ts'
import { type GenerationItem, type Plan, type TrainingJob, canonicalJson, configKey, plan, runPrefix, seedPrefix } from './keys.ts'
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
export const attempt = <A>(
  stage: string,
  coordinates: Readonly<Record<string, string | number>>,
  f: () => Promise<A>,
): TE.TaskEither<PipelineError, A> => TE.tryCatch(f, (e) => stageError(stage, coordinates, e))

/** Runs `work` (timed) unless `marker`, the stage's last write, already exists. */
const unlessDone = (store: ObjectStore, marker: string, work: () => TE.TaskEither<PipelineError, unknown>): TE.TaskEither<PipelineError, StageOutcome> =>
  pipe(
    store.exists(marker),
    TE.flatMap(
      (done): TE.TaskEither<PipelineError, StageOutcome> =>
        done ? TE.right({ skipped: true, seconds: 0 }) : pipe(timed(work()), TE.map(([, seconds]) => ({ skipped: false, seconds }))),
    ),
  )

export const timed = <A>(ma: TE.TaskEither<PipelineError, A>): TE.TaskEither<PipelineError, [A, number]> => {
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
 * The plan's generation items as the `generate` Lambda's events, `{ run, group, seed, sample,
 * shard }`: what {@link itemsKey} holds, and each Distributed Map child's input as it is (the
 * handler recomputes keys and point ranges from the stored config).
 */
export const generationEvents = (p: Plan): Array<{ run: string; group: string; seed: number; sample: number; shard: number }> =>
  p.generations.map((g) => ({ run: p.run, group: g.group, seed: g.seed, sample: g.sample, shard: g.shard }))

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
    TE.flatMap(() => store.put(itemsKey(p.run), encoder.encode(JSON.stringify(generationEvents(p))))),
    TE.map(() => p),
  )
}

/** The experiment a run was planned with, from its stored `config.json` (which adds `run`). */
export const storedExperiment = (store: ObjectStore, run: string): TE.TaskEither<PipelineError, Experiment> =>
  pipe(
    store.get(configKey(run)),
    TE.flatMapEither((bytes) => {
      const { run: _run, ...config } = JSON.parse(decoder.decode(bytes)) as Record<string, unknown>
      return decodeExperiment(config, store.uri(configKey(run)))
    }),
  )

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
  unlessDone(store, job.manifestKey, () =>
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
  return unlessDone(store, item.sidecarKey, () =>
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
  )
}
