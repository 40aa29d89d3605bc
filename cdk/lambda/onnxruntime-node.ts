/**
 * Stands in for `onnxruntime-node` in the Lambda bundles (esbuild `--alias`, see
 * cdk/constructs/functions.ts). The real package is 288 MB of native libraries, over Lambda's
 * 250 MB limit for an unzipped function, and the functions do not need it: a graph of the MLP
 * family is evaluated by the WASM core. Importing this module succeeds, so that the MLP path works;
 * using it throws, so that a graph outside the family fails with a message that says what to do.
 */

const unavailable = (what: string): Error =>
  new Error(
    `onnxruntime-node is not part of the Lambda bundle (${what}): only vector fields of the MLP family ` +
      'run on AWS Lambda (in WASM); evaluate other ONNX graphs with a local run (`bayesamp run`)',
  )

/** Refuses every session: see the module comment. */
export class InferenceSession {
  static create(): Promise<never> {
    return Promise.reject(unavailable('InferenceSession.create'))
  }

  private constructor() {
    throw unavailable('new InferenceSession')
  }
}

/** Refuses every tensor: see the module comment. */
export class Tensor {
  constructor() {
    throw unavailable('new Tensor')
  }
}

/** The package's `env` object, present so that property reads do not throw before use. */
export const env = {}
