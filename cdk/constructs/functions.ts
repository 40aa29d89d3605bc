/**
 * The pipeline's Lambda functions (`plan`, `generate`, `reduce`), bundled by esbuild from
 * `functions/*.ts` as ES modules for Node.js 22, with the WASM core copied beside the bundle.
 *
 * Sizing (generate), from the benchmark (`npm run bench`):
 *   throughput on one vCPU ≈ 60 000 points/s (RK4, 16 steps, the paper's 2498-parameter model);
 *   Lambda allocates CPU in proportion to memory and 1769 MB buys exactly one vCPU;
 *   generation runs in the handler's thread, so more memory (a second vCPU) would buy nothing.
 *   A shard of 2 000 000 points takes 2e6 / 6e4 ≈ 33 s; examples/paper.json's 2^20 points ≈ 17.5 s.
 *   The 5-minute timeout is 9× the 2 M-point shard: room for a cold start (bundle load and WASM
 *   compile, well under 1 s), the posterior and counts I/O (kilobytes to a megabyte) and a slower
 *   CPU; it caps a shard at 300 s · 6e4/s / 3 ≈ 6 M points with a 3× margin.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'

import { ConstructValidationError } from './errors.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Generation throughput of one vCPU, points per second (RK4-16, paper model; `npm run bench`). */
export const POINTS_PER_VCPU_SECOND = 60_000

/** Lambda memory that buys one full vCPU, MiB. */
export const ONE_VCPU_MIB = 1769

/** The shard the generate timeout is sized for, points. */
export const DESIGN_SHARD_POINTS = 2_000_000

/** Where the bundle lands in the Lambda: the WASM core is copied there, and the loader is told so. */
export const LAMBDA_TASK_ROOT = '/var/task'

/** The WASM core builds shipped with the bundles (wasm/build.js writes them). */
export const WASM_FILES = ['core.simd.wasm', 'core.relaxed.wasm'] as const

/** Entry files of the three handlers, each exporting `handler`. */
export interface HandlerEntries {
  readonly plan: string
  readonly generate: string
  readonly reduce: string
}

/** Memory and timeout of one function. */
export interface FunctionSize {
  readonly memoryMiB: number
  readonly timeout: Duration
}

/** Properties of {@link PipelineFunctions}. */
export interface PipelineFunctionsProps {
  /** Repository root: esbuild's working directory, where `package-lock.json` and `wasm/build/` are. */
  readonly projectRoot: string
  /** The handlers' entry files, absolute paths under {@link projectRoot}. */
  readonly entries: HandlerEntries
  /** The run bucket; each function may read and write only {@link runsPattern} in it. */
  readonly bucket: s3.IBucket
  /** Store prefix inside the bucket ('' for the root), passed as `BAYESAMP_PREFIX`. */
  readonly prefix: string
  /** Key pattern the functions may read and write, e.g. `runs/*`. */
  readonly runsPattern: string
  /**
   * Memory and timeout of `generate`.
   *
   * @default - one vCPU (1769 MiB) and 5 minutes: see the module comment
   */
  readonly generateSize?: FunctionSize
  /**
   * Memory and timeout of `reduce`.
   *
   * @default - 4096 MiB and 15 minutes: a group of the paper's sweep reads seeds × samples × shards
   *   = 5 × 50 × 39 counts objects of 107 878 bins (863 kB as int64), about 8.4 GB, and keeps one
   *   sum per (seed, sample), 250 × 863 kB ≈ 216 MB; I/O bound, so the most time Lambda allows
   */
  readonly reduceSize?: FunctionSize
  /**
   * Memory and timeout of `plan`.
   *
   * @default - 1024 MiB and 2 minutes: it writes the config and the item list (≈ 47 000 items of
   *   ≈ 70 bytes for the paper's sweep, 3.3 MB)
   */
  readonly planSize?: FunctionSize
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Default size of `generate`: one vCPU, a 5-minute timeout (module comment). */
export const GENERATE_SIZE: FunctionSize = { memoryMiB: ONE_VCPU_MIB, timeout: Duration.minutes(5) }

/** Default size of `reduce` ({@link PipelineFunctionsProps.reduceSize}). */
export const REDUCE_SIZE: FunctionSize = { memoryMiB: 4096, timeout: Duration.minutes(15) }

/** Default size of `plan` ({@link PipelineFunctionsProps.planSize}). */
export const PLAN_SIZE: FunctionSize = { memoryMiB: 1024, timeout: Duration.minutes(2) }

/** The three Lambda functions of the pipeline, each granted read and write on the runs prefix only. */
export class PipelineFunctions extends Construct {
  readonly plan: nodejs.NodejsFunction
  readonly generate: nodejs.NodejsFunction
  readonly reduce: nodejs.NodejsFunction

  constructor(scope: Construct, id: string, props: PipelineFunctionsProps) {
    super(scope, id)
    const environment = {
      BAYESAMP_BUCKET: props.bucket.bucketName,
      BAYESAMP_PREFIX: props.prefix,
      BAYESAMP_WASM_DIR: LAMBDA_TASK_ROOT,
      // Stack traces through the bundle name the TypeScript sources.
      NODE_OPTIONS: '--enable-source-maps',
    }
    const make = (name: keyof HandlerEntries, size: FunctionSize, description: string, wasm: boolean) => {
      const fn = new nodejs.NodejsFunction(this, capitalize(name), {
        description,
        entry: props.entries[name],
        handler: 'handler',
        projectRoot: props.projectRoot,
        depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.X86_64,
        memorySize: size.memoryMiB,
        timeout: size.timeout,
        environment,
        tracing: lambda.Tracing.ACTIVE,
        logGroup: new logs.LogGroup(this, `${capitalize(name)}Logs`, {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        bundling: lambdaBundling(this, props.projectRoot, {
          wasm,
          // resvg (figures as PNG) is native code: installed for the Lambda's platform, not bundled.
          nodeModules: name === 'reduce' ? ['@resvg/resvg-js'] : [],
        }),
      })
      props.bucket.grantRead(fn, props.runsPattern)
      props.bucket.grantPut(fn, props.runsPattern)
      return fn
    }
    this.plan = make('plan', props.planSize ?? PLAN_SIZE, 'bayesamp plan: expands a config into jobs and items', false)
    this.generate = make(
      'generate',
      props.generateSize ?? GENERATE_SIZE,
      'bayesamp generate: one (posterior sample, shard) of counts',
      true,
    )
    this.reduce = make('reduce', props.reduceSize ?? REDUCE_SIZE, 'bayesamp reduce: one group report', true)
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Replaces `onnxruntime-node` in the bundles (see that file); relative to the project root. */
export const ORT_SHIM = 'cdk/lambda/onnxruntime-node.ts'

/**
 * esbuild options shared by the functions: ESM for Node.js 22, the AWS SDK bundled (the version
 * the tests ran, not the runtime's), `require`/`__dirname` defined for CommonJS dependencies inside
 * the ES module, onnxruntime-node swapped for a module that fails on use, and optionally the WASM
 * core copied next to `index.mjs`.
 */
export const lambdaBundling = (
  scope: Construct,
  projectRoot: string,
  options: { readonly wasm: boolean; readonly nodeModules: string[] },
): nodejs.BundlingOptions => ({
  format: nodejs.OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  bundleAwsSDK: true,
  // onnxruntime-node is 288 MB of native libraries, over Lambda's 250 MB limit, and not needed:
  // graphs of the MLP family run in WASM. It is aliased to a shim (not left external, which would
  // fail at import) so that only a graph outside the family fails, and says why.
  esbuildArgs: { '--alias': `onnxruntime-node=./${ORT_SHIM}` },
  // `canvas` is vega's optional raster backend (not installed); figures render as SVG and resvg.
  externalModules: ['canvas'],
  // Installed beside the bundle (native code esbuild cannot bundle); none means no install step.
  nodeModules: options.nodeModules.length > 0 ? options.nodeModules : undefined,
  banner: [
    "import { createRequire as __bayesampRequire } from 'node:module';",
    "import { fileURLToPath as __bayesampPath } from 'node:url';",
    'const require = __bayesampRequire(import.meta.url);',
    'const __filename = __bayesampPath(import.meta.url);',
    "const __dirname = __bayesampPath(new URL('.', import.meta.url));",
  ].join(' '),
  commandHooks: {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) => {
      if (!options.wasm) return []
      const missing = WASM_FILES.filter((f) => !existsSync(join(projectRoot, 'wasm', 'build', f)))
      if (missing.length > 0)
        throw new ConstructValidationError(
          scope,
          `wasm/build/${missing.join(', wasm/build/')} not found under ${projectRoot}: ` +
            'run `npm run build` before `cdk synth`',
        )
      // The commands run in the bundling environment (a local shell or a Linux container): POSIX paths.
      return WASM_FILES.map((f) => `cp "${inputDir}/wasm/build/${f}" "${outputDir}/${f}"`)
    },
  },
})

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
