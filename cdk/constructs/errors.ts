/**
 * Synth-time errors of the bayesamp constructs: they name the construct and say what to change.
 * (aws-cdk-lib's own `ValidationError` is internal to the library.)
 */
import type { IConstruct } from 'constructs'

/** A property or prerequisite of a construct is wrong: the message says which and what is expected. */
export class ConstructValidationError extends Error {
  override readonly name = 'ConstructValidationError'

  constructor(scope: IConstruct, message: string) {
    super(`${scope.node.path}: ${message}`)
  }
}
