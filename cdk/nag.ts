/**
 * cdk-nag's AWS Solutions checks (cdk-nag 3: a policy-validation plugin, run at synthesis; a
 * finding that is not acknowledged fails the synthesis) and the findings acknowledged on purpose,
 * each on the construct it concerns and with its reason.
 *
 * Wildcard permissions (AwsSolutions-IAM5) are acknowledged per IAM statement: a finding is
 * acknowledged only when it comes from a statement that grants one of the actions listed in
 * {@link WILDCARD_REASONS}, so a new wildcard anywhere else still fails the synthesis.
 */
import { type App, type IResolvable, Stack, Validations } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import type * as lambda from 'aws-cdk-lib/aws-lambda'
import { AwsSolutionsChecks } from 'cdk-nag'
// The rule's own formatting of a policy resource, so that acknowledgments name findings exactly as
// the rule reports them.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js'
import type { IConstruct } from 'constructs'

import type { BayesampStack } from './stack.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Namespace of the AWS Solutions pack's rule ids in validation reports and acknowledgments. */
export const NAG_NAMESPACE = 'AwsSolutions'

/**
 * Why a wildcard is needed, keyed by an action of the IAM statement that carries it. A statement
 * is matched when its actions include the key; then all of its wildcard findings are acknowledged.
 */
export const WILDCARD_REASONS: Readonly<Record<string, string>> = {
  's3:GetObject*':
    'bucket.grantRead limited to the runs prefix (runs/*): GetObject* reads objects and their versions; ' +
    'GetBucket* and List* apply to the bucket itself, and without s3:ListBucket S3 answers a missing key with ' +
    '403 instead of 404, which the stages need to skip finished work',
  's3:PutObject':
    'bucket.grantPut limited to the runs prefix (runs/*): every stage writes keys under runs/<run>/ that are a ' +
    'function of its coordinates, not known at deploy time; Abort* cleans up failed multipart uploads',
  'xray:PutTraceSegments': 'X-Ray tracing: the X-Ray write actions support no resource-level permissions',
  'ecr:GetAuthorizationToken':
    'pulling the training image: ecr:GetAuthorizationToken supports no resource-level permissions',
  'lambda:InvokeFunction':
    'the three pipeline functions and their versions or aliases (<arn>:*), as the Step Functions Lambda task grants',
  'ecs:RunTask': 'any revision (family:*) of the one training task definition: the revision changes on each deployment',
  'ecs:StopTask':
    'the .sync integration describes and stops the task it started, whose ARN is only known at run time',
  'logs:CreateLogDelivery':
    'state machine logging to CloudWatch Logs: the log-delivery actions support no resource-level permissions',
  'events:PutTargets': 'the managed EventBridge rule of the ECS .sync integration (a fixed ARN, no wildcard)',
  's3:ListMultipartUploadParts':
    "the Distributed Map's result writer, limited to its prefix map-runs/*: Step Functions names the files per map run",
  's3:GetObject':
    "the Distributed Map's item reader, limited to the runs prefix (runs/*): the item list's key comes from the plan",
  'states:DescribeExecution':
    "the Distributed Map's child executions of this state machine (<name>:*), named by Step Functions at run time",
  'states:RedriveExecution': "redriving the Distributed Map's child executions (<name>/generate:*)",
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** Adds the AWS Solutions checks to `app` and acknowledges the findings of `stack` listed in this module. */
export const applyNag = (app: App, stack: BayesampStack): void => {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }))
  acknowledgeFindings(stack)
}

/** Acknowledges, with reasons, the findings of `stack` that are there by design. */
export const acknowledgeFindings = (stack: BayesampStack): void => {
  const { plan, generate, reduce } = stack.functions
  for (const fn of [plan, generate, reduce]) {
    acknowledge(
      fn,
      'AwsSolutions-L1',
      'Node.js 22 is the runtime the project is built and tested for (esbuild target node22; the WASM core ' +
        'needs relaxed SIMD, on by default from Node.js 22); moving to a newer runtime is a deliberate upgrade',
    )
    acknowledge(
      roleOf(fn),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents',
    )
  }
  acknowledge(
    stack.training.taskDefinition,
    'AwsSolutions-ECS2',
    'the environment holds the bucket name and the store prefix, which are not secrets; the job coordinates ' +
      '(RUN, GROUP, SEED) are container overrides per task',
  )
  for (const policy of stack.node.findAll().filter((c): c is iam.CfnPolicy => c instanceof iam.CfnPolicy))
    acknowledgeWildcards(policy)
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

interface Statement {
  readonly Effect: string
  readonly Action: string | string[]
  readonly Resource: unknown
}

/** Acknowledges the IAM5 findings of `policy` that come from statements listed in {@link WILDCARD_REASONS}. */
const acknowledgeWildcards = (policy: iam.CfnPolicy): void => {
  const document = Stack.of(policy).resolve(policy.policyDocument) as { Statement?: Statement[] }
  const done = new Set<string>()
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue
    const actions = list<string>(statement.Action)
    const key = actions.find((a) => WILDCARD_REASONS[a] !== undefined)
    if (key === undefined) continue
    const findings = [
      ...actions.filter((a) => a.includes('*')).map((a) => `Action::${a}`),
      ...list(statement.Resource)
        .map((r) => flattenCfnReference(r as IResolvable))
        .filter((r) => r.includes('*'))
        .map((r) => `Resource::${r}`),
    ]
    for (const finding of findings) {
      if (done.has(finding)) continue
      done.add(finding)
      acknowledge(policy, `AwsSolutions-IAM5[${finding}]`, WILDCARD_REASONS[key])
    }
  }
}

const acknowledge = (scope: IConstruct, rule: string, reason: string): void =>
  Validations.of(scope).acknowledge({ id: `${NAG_NAMESPACE}::${rule}`, reason })

/** The execution role of a function (always present: the stack lets CDK create it). */
const roleOf = (fn: lambda.IFunction): IConstruct => {
  if (fn.role === undefined) throw new Error(`${fn.node.path}: expected a function with an execution role`)
  return fn.role
}

const list = <A>(x: A | A[]): A[] => (Array.isArray(x) ? x : [x])
