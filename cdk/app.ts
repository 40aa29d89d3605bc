/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`, or `bayesamp deploy`): one bayesamp stack in the
 * account and region of the caller's credentials, checked by cdk-nag's AWS Solutions rules.
 */
import { App } from 'aws-cdk-lib'

import { applyNag } from './nag.ts'
import { BayesampStack } from './stack.ts'

const app = new App()
const stack = new BayesampStack(app, app.node.tryGetContext('stackName') ?? 'Bayesamp', {
  description: 'bayesamp: Bayesian CNF calibration and amplification sweeps (Step Functions, Lambda, Fargate, S3)',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  storePrefix: app.node.tryGetContext('storePrefix') ?? '',
})
applyNag(app, stack)
