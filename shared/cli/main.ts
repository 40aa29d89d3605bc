/**
 * The `bayesamp` command line. Commands are declared here, grouped by `// <command>` comments;
 * heavy modules load lazily inside each action. Errors end as one red line and exit code 1.
 */
import cac from 'cac'
import colors from 'picocolors'
import { createLogger, type LogLevel } from './logger.ts'
import { integer, intList, pointCount, solver } from './options.ts'

const cli = cac('bayesamp')

const logOf = (o: { logLevel?: string }) => createLogger((o.logLevel ?? 'info') as LogLevel)

const range = (v: string): { start: number; end: number } => {
  const m = /^(\d+):(\d+)$/.exec(v.replace(/_/g, ''))
  if (m === null) throw new RangeError(`--range: expected START:END (integers), got '${v}'`)
  return { start: Number(m[1]), end: Number(m[2]) }
}

/** S3 stores need credentials (any, for an S3-compatible endpoint): fail at once without them. */
const requireAwsCredentials = async (what: string): Promise<void> => {
  const { credentialsProblem } = await import('./commands/aws.ts')
  const problem = credentialsProblem()
  if (problem !== undefined) throw new Error(`${what}: an s3:// store needs AWS credentials: ${problem}`)
}

const variantOf = (v: unknown): 'auto' | 'simd' | 'relaxed' => {
  const s = String(v ?? 'auto')
  if (s !== 'auto' && s !== 'simd' && s !== 'relaxed') throw new RangeError(`--core: expected auto, simd or relaxed, got '${s}'`)
  return s
}

cli.option('--logLevel <level>', 'silent | error | warn | info', { default: 'info' })

// vfield
cli
  .command('vfield', 'Evaluate a vector field at given points (prints JSON)')
  .option('--model <file>', 'ONNX vector field')
  .option('--input <file>', 'JSON array of {"t": number, "x": number[]}')
  .action(async (o: { model?: string; input?: string; logLevel?: string }) => {
    if (o.model === undefined) throw new RangeError('--model: required')
    if (o.input === undefined) throw new RangeError('--input: required')
    const { vfield } = await import('./commands/vfield.ts')
    const v = await vfield(o.model, o.input, logOf(o))
    console.log(JSON.stringify(v.map((x) => ({ v: x }))))
  })

// generate
cli
  .command('generate', 'Generate from a vector field and count the points in Gamma-ring quantile grids')
  .option('--model <file>', 'ONNX vector field')
  .option('--seed <s>', 'seed of the latent draws', { default: 0 })
  .option('--stream <k>', 'latent stream', { default: 0 })
  .option('--grids <list>', 'grid sides n of the n×n quantile grids', { default: '2,5,10,20' })
  .option('--points <N>', 'a fixed number of points, counted by every grid')
  .option('--points-per-bin <K>', 'grid n counts the first K·n² points (default 1000)')
  .option('--solver <name>', 'euler | midpoint | rk4 | dopri5', { default: 'rk4' })
  .option('--steps <n>', 'steps of a fixed-step solver', { default: 16 })
  .option('--rtol <r>', 'dopri5 relative tolerance (default 1e-5)')
  .option('--atol <a>', 'dopri5 absolute tolerance (default 1e-6)')
  .option('--workers <W>', 'worker threads (default: one per core; 0 = this thread)')
  .option('--chunk-size <n>', 'points per unit of work', { default: 4096 })
  .option('--core <variant>', 'auto | simd | relaxed', { default: 'auto' })
  .option('--range <start:end>', 'only the latent indices [start, end) of the sample: a shard (start on a chunk boundary)')
  .option('--out <file>', 'counts .npy (a sidecar .json is written beside it)')
  .option('--points-out <file>', 'also write the generated points as a [N, 2] float32 .npy')
  .option('--force', 'recompute even when the outputs exist for this model and plan')
  .action(async (o: Record<string, unknown>) => {
    if (o.model === undefined) throw new RangeError('--model: required')
    if (o.out === undefined) throw new RangeError('--out: required')
    const { generate } = await import('./commands/generate.ts')
    await generate(
      {
        model: String(o.model),
        out: String(o.out),
        seed: integer('seed', o.seed),
        stream: integer('stream', o.stream),
        grids: intList('grids', o.grids),
        count: pointCount({ points: o.points, pointsPerBin: o.pointsPerBin }),
        solver: solver(o),
        workers: o.workers === undefined ? undefined : integer('workers', o.workers),
        chunkSize: integer('chunk-size', o.chunkSize, 1),
        range: o.range === undefined ? undefined : range(String(o.range)),
        variant: variantOf(o.core),
        pointsOut: o.pointsOut === undefined ? undefined : String(o.pointsOut),
        force: o.force === true,
      },
      logOf(o),
    )
  })

// demo
cli
  .command('demo', 'Quick demonstration: generate from the example model and compare with the truth')
  .option('--out <dir>', 'where to write the counts', { default: 'runs/demo' })
  .option('--workers <W>', 'worker threads (default: one per core)')
  .action(async (o: { out: string; workers?: unknown; logLevel?: string }) => {
    const { demo } = await import('./commands/demo.ts')
    await demo({ out: o.out, workers: o.workers === undefined ? undefined : integer('workers', o.workers) }, logOf(o))
  })

// train
cli
  .command('train <config>', 'Train one posterior (or a plain CFM model) and write it as ONNX files')
  .option('--method <m>', 'cfm | vib | mcmc', { default: 'vib' })
  .option('--seed <s>', 'training seed: the training set and every random draw', { default: 0 })
  .option('--value <v>', "VIB k or AdamMCMC σ (default: the config's first)")
  .option('--epochs <n>', 'CFM epochs (--method cfm)', { default: 2500 })
  .option('--threads <n>', 'threads per batch (the trained weights do not depend on it)', { default: 1 })
  .option('--out <dir>', 'where posterior/ goes')
  .action(async (config: string, o: Record<string, unknown>) => {
    const method = String(o.method)
    if (method !== 'cfm' && method !== 'vib' && method !== 'mcmc') throw new RangeError(`--method: expected cfm, vib or mcmc, got '${method}'`)
    if (o.out === undefined) throw new RangeError('--out: required')
    const value = o.value === undefined ? undefined : Number(o.value)
    if (value !== undefined && !(value > 0)) throw new RangeError(`--value: expected a positive number, got '${String(o.value)}'`)
    const { train } = await import('./commands/train.ts')
    await train(
      { config, method, seed: integer('seed', o.seed), out: String(o.out), value, epochs: integer('epochs', o.epochs, 1), threads: integer('threads', o.threads, 1) },
      logOf(o),
    )
  })

// loglik
cli
  .command('loglik', 'Mean log-likelihood of points under a CNF (exact divergence, fixed-step solver)')
  .option('--model <file>', 'ONNX vector field of the MLP family')
  .option('--data <file>', 'points, .npy [N, d]')
  .option('--solver <name>', 'euler | midpoint | rk4', { default: 'rk4' })
  .option('--steps <n>', 'solver steps', { default: 8 })
  .action(async (o: Record<string, unknown>) => {
    if (o.model === undefined) throw new RangeError('--model: required')
    if (o.data === undefined) throw new RangeError('--data: required')
    const solverName = String(o.solver)
    if (solverName !== 'euler' && solverName !== 'midpoint' && solverName !== 'rk4')
      throw new RangeError(`--solver: expected euler, midpoint or rk4, got '${solverName}'`)
    const { loglik } = await import('./commands/loglik.ts')
    const r = await loglik(String(o.model), String(o.data), { solver: solverName, steps: integer('steps', o.steps, 1) }, logOf(o))
    console.log(JSON.stringify(r))
  })

// run
cli
  .command('run <config>', 'Run a whole experiment here: plan, train, generate, report')
  .option('--store <location>', 'a directory (runs go to <dir>/runs/<run>/) or s3://bucket/prefix', { default: '.' })
  .option('--name <run>', 'run name (default: the config name, else a hash of the config)')
  .option('--workers <W>', 'worker threads (default: one per core)')
  .option('--allow-partial', 'report even if some counts are missing, and say so')
  .action(async (config: string, o: Record<string, unknown>) => {
    if (String(o.store).startsWith('s3://')) await requireAwsCredentials('run')
    const { runLocal } = await import('../pipeline/local.ts')
    const { describe, exitCode } = await import('../pipeline/errors.ts')
    const log = logOf(o)
    const r = await runLocal(
      {
        config,
        store: String(o.store),
        name: o.name === undefined ? undefined : String(o.name),
        workers: o.workers === undefined ? undefined : integer('workers', o.workers, 1),
        allowPartial: o.allowPartial === true,
      },
      log,
    )()
    if (r._tag === 'Left') {
      console.error(colors.red(`error: ${describe(r.left)}`))
      process.exit(exitCode(r.left))
    }
    log.info(`trained ${r.right.trained}, generated ${r.right.generated} shard(s) (the rest were already in the store)`)
    console.log(`report: ${r.right.report}`)
  })

// deploy
cli
  .command('deploy [...cdkArgs]', 'Deploy the AWS stack (wraps cdk deploy; extra arguments go to cdk)')
  .action(async (cdkArgs: string[], o: Record<string, unknown>) => {
    const { deploy } = await import('./commands/aws.ts')
    await deploy(cdkArgs, logOf(o))
  })

// submit
cli
  .command('submit <config>', 'Start the experiment as a Step Functions execution; prints its ARN and console link')
  .option('--name <run>', 'run name (default: the config name, else a hash of the config)')
  .option('--state-machine <arn>', 'default: from bayesamp deploy, or BAYESAMP_STATE_MACHINE_ARN')
  .action(async (config: string, o: Record<string, unknown>) => {
    const { submit } = await import('./commands/aws.ts')
    await submit(config, { name: o.name === undefined ? undefined : String(o.name), stateMachine: o.stateMachine === undefined ? undefined : String(o.stateMachine) }, logOf(o))
  })

// status
cli
  .command('status <execution>', 'Progress of an execution and its Map runs')
  .action(async (execution: string) => {
    const { status } = await import('./commands/aws.ts')
    await status(execution)
  })

// download
cli
  .command('download <uri> <dir>', 'Copy a run (or any prefix) from s3://bucket/prefix to a folder')
  .action(async (uri: string, dir: string, o: Record<string, unknown>) => {
    const { download } = await import('./commands/aws.ts')
    await download(uri, dir, logOf(o))
  })

// report
cli
  .command('report <run>', 'Rebuild the figures and reports of a run from its stored counts')
  .option('--allow-partial', 'report from the counts that exist, and say so at the top of the report')
  .option('--training-size <N>', 'training set size N (default: from the run config)')
  .option('--levels <n>', 'number of nominal coverage levels in [0, 1]', { default: 50 })
  .option('--estimator <name>', 'amplification estimator: cv (mean²/variance, eq. 6.1) | variance', { default: 'cv' })
  .option('--fit-last <n>', 'power-law fit over the last n grids', { default: 8 })
  .action(async (run: string, o: Record<string, unknown>) => {
    const estimator = String(o.estimator)
    if (estimator !== 'cv' && estimator !== 'variance') throw new RangeError(`--estimator: expected cv or variance, got '${estimator}'`)
    if (run.startsWith('s3://')) {
      await requireAwsCredentials('report')
      const { reportFromStore } = await import('./commands/report-s3.ts')
      console.log(`report: ${await reportFromStore(run, { allowPartial: o.allowPartial === true })}`)
      return
    }
    const { reportCommand } = await import('../report/command.ts')
    const r = await reportCommand(
      {
        run,
        allowPartial: o.allowPartial === true,
        trainingSize: o.trainingSize === undefined ? undefined : integer('training-size', o.trainingSize, 1),
        levels: integer('levels', o.levels, 2),
        estimator,
        fitLast: integer('fit-last', o.fitLast, 2),
      },
      logOf(o),
    )
    const page = r.written.find((f) => f.endsWith('report.html'))
    if (page !== undefined) console.log(`report: ${page}`)
  })

cli.help()
cli.version('0.1.0')

try {
  cli.parse(process.argv, { run: false })
  if (cli.matchedCommand === undefined) {
    if (cli.args.length > 0) throw new Error(`unknown command '${cli.args[0]}' (bayesamp --help lists the commands)`)
    if (!cli.options.help && !cli.options.version) cli.outputHelp()
  } else {
    const unknown = Object.keys(cli.options).filter(
      (k) => k !== '--' && !cli.matchedCommand!.options.concat(cli.globalCommand.options).some((opt) => opt.names.includes(k)),
    )
    if (unknown.length > 0) throw new Error(`unknown option --${unknown[0]} for '${cli.matchedCommand.name}'`)
    await cli.runMatchedCommand()
  }
} catch (e) {
  console.error(colors.red(`error: ${e instanceof Error ? e.message : String(e)}`))
  process.exit(1)
}
