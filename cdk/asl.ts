/**
 * The state machine's definition as plain Amazon States Language, for running it outside AWS.
 *
 * In the template the definition is an `Fn::Join` of text and CloudFormation references (function
 * ARNs, the bucket, the cluster, subnets). {@link stateMachineDefinition} synthesizes the stack and
 * replaces each reference with a fixed placeholder ({@link LOCAL_ARNS}, {@link LOCAL_NAMES}), so a
 * local interpreter can bind its tasks by state name ({@link STATES}). {@link forLocalInterpreter}
 * then rewrites what aws-local-stepfunctions does not implement: a Distributed Map's `ItemReader`
 * becomes a preceding Task that returns the items (bound to a local handler that reads the JSON
 * array from the object store), and the map iterates over them with `ItemsPath`.
 *
 * @example
 * const definition = forLocalInterpreter(stateMachineDefinition(stack))
 * const machine = new StateMachine(definition)
 * await machine.run(input, { overrides: { taskResourceLocalHandlers: { [STATES.plan]: plan, … } } }).result
 */
import type { Stack } from 'aws-cdk-lib'
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions'

import { STATES } from './constructs/pipeline.ts'
import { TRAINING_CONTAINER } from './constructs/training.ts'
import type { BayesampStack } from './stack.ts'

export { STATES } from './constructs/pipeline.ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** An Amazon States Language definition (states are kept as plain JSON objects). */
export interface AslDefinition {
  readonly StartAt: string
  readonly States: Record<string, AslState>
  readonly [field: string]: unknown
}

/** One state of an {@link AslDefinition}. */
export type AslState = Record<string, unknown>

/** Account and region of the placeholders. */
export const LOCAL_ACCOUNT = '000000000000'
export const LOCAL_REGION = 'local'

/** Placeholder ARNs that replace the stack's resources in the definition. */
export const LOCAL_ARNS = {
  plan: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:plan`,
  generate: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:generate`,
  reduce: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:reduce`,
  /** The Task that {@link forLocalInterpreter} puts in place of an ItemReader. */
  readItems: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:read-items`,
  cluster: `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:cluster/bayesamp`,
} as const

/** Placeholder names that replace the stack's other references. */
export const LOCAL_NAMES = {
  bucket: 'bayesamp-local',
  securityGroup: 'sg-local',
  /** Subnet `i` becomes `subnet-local-<i>`. */
  subnetPrefix: 'subnet-local-',
} as const

/** Options of {@link stateMachineDefinition}. */
export interface DefinitionOptions {
  /**
   * Bucket name to put in the definition (the ItemReader's and ResultWriter's `Bucket`).
   *
   * @default LOCAL_NAMES.bucket
   */
  readonly bucketName?: string
}

/** Field of the state where {@link forLocalInterpreter}'s item Task puts the items. */
export const LOCAL_ITEMS_FIELD = 'items'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The stack's state machine definition with every CloudFormation reference replaced by a
 * placeholder. Synthesizes the stack's app (so nag findings, if the app has the checks, throw here).
 */
export const stateMachineDefinition = (stack: BayesampStack, options: DefinitionOptions = {}): AslDefinition => {
  const cfn = stack.pipeline.stateMachine.node.defaultChild as CfnStateMachine
  const template = synthesizedTemplate(stack)
  const resource = template.Resources?.[stack.getLogicalId(cfn)]
  if (resource === undefined) throw new Error(`${cfn.node.path}: not found in the synthesized template`)
  const body = resource.Properties?.DefinitionString
  const substitutions = placeholders(stack, options)
  const text = (() => {
    if (typeof body === 'string') return body
    const join = (body as { 'Fn::Join'?: [string, unknown[]] } | undefined)?.['Fn::Join']
    if (join === undefined) throw new Error(`${cfn.node.path}: DefinitionString is neither a string nor an Fn::Join`)
    return join[1]
      .map((part) => {
        if (typeof part === 'string') return part
        const value = substitutions.get(JSON.stringify(part))
        if (value === undefined)
          throw new Error(
            `state machine definition: no placeholder for ${JSON.stringify(part)}; ` +
              'add one in cdk/asl.ts (placeholders)',
          )
        return value
      })
      .join(join[0])
  })()
  return JSON.parse(text) as AslDefinition
}

/**
 * `definition` rewritten for aws-local-stepfunctions, which ignores `ItemReader`: every state with
 * an ItemReader is preceded by a Task `<state>Items` (resource {@link LOCAL_ARNS}.readItems, input
 * the reader's parameters `{ Bucket, Key }`, result at `$.items`), and iterates with
 * `ItemsPath: "$.items"`. Its ResultWriter is dropped (the local run keeps results in memory).
 * Nothing else changes; the execution's output carries the extra `items` field.
 */
export const forLocalInterpreter = (definition: AslDefinition): AslDefinition => {
  const out = structuredClone(definition) as { StartAt: string; States: Record<string, AslState> }
  for (const [name, state] of Object.entries(definition.States)) {
    const reader = state.ItemReader as { Parameters?: Record<string, unknown> } | undefined
    if (reader === undefined) continue
    if (state.ItemBatcher !== undefined)
      throw new Error(
        `state ${name}: an ItemBatcher changes the iteration input; forLocalInterpreter does not model it`,
      )
    const itemsState = `${name}Items`
    if (out.States[itemsState] !== undefined) throw new Error(`state ${itemsState} exists already`)
    const { ItemReader: _reader, ResultWriter: _writer, ...map } = out.States[name]
    out.States[name] = { ...map, ItemsPath: `$.${LOCAL_ITEMS_FIELD}` }
    out.States[itemsState] = {
      Type: 'Task',
      Comment: `stands in for the ItemReader of ${name}: returns the JSON array at s3://Bucket/Key`,
      Resource: LOCAL_ARNS.readItems,
      Parameters: reader.Parameters ?? {},
      ResultPath: `$.${LOCAL_ITEMS_FIELD}`,
      Next: name,
    }
    if (out.StartAt === name) out.StartAt = itemsState
    for (const [other, s] of Object.entries(out.States)) {
      if (other === itemsState) continue
      if (s.Next === name) s.Next = itemsState
      for (const c of (s.Catch as Array<{ Next?: string }> | undefined) ?? []) if (c.Next === name) c.Next = itemsState
    }
  }
  return out
}

/**
 * The environment a training task would get: the `Name`/`Value` pairs of the training container's
 * override in the input of {@link STATES}.trainJob (what a local handler for that state receives).
 */
export const trainingEnvironment = (taskInput: unknown): Record<string, string> => {
  const input = taskInput as { Overrides?: { ContainerOverrides?: unknown } } | null
  const overrides = input?.Overrides?.ContainerOverrides
  const container = Array.isArray(overrides)
    ? (overrides as Array<{ Name?: string; Environment?: Array<{ Name: string; Value: string }> }>).find(
        (o) => o.Name === TRAINING_CONTAINER,
      )
    : undefined
  if (container === undefined)
    throw new Error(`${STATES.trainJob} input: no container override named ${JSON.stringify(TRAINING_CONTAINER)}`)
  return Object.fromEntries((container.Environment ?? []).map((e) => [e.Name, e.Value]))
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

interface Template {
  readonly Resources?: Record<string, { readonly Properties?: Record<string, unknown> }>
}

/** The stack's template from its app's cloud assembly. */
const synthesizedTemplate = (stack: Stack): Template => {
  const stage = stack.node.root as unknown as { synth(): { getStackArtifact(id: string): { template: Template } } }
  return stage.synth().getStackArtifact(stack.artifactId).template
}

/** The resolved form of every reference the definition may contain, mapped to its placeholder. */
const placeholders = (stack: BayesampStack, options: DefinitionOptions): Map<string, string> => {
  const key = (token: unknown): string => JSON.stringify(stack.resolve(token))
  const { plan, generate, reduce } = stack.functions
  const { cluster, vpc, securityGroup } = stack.training
  const pairs: Array<[string, string]> = [
    [key(plan.functionArn), LOCAL_ARNS.plan],
    [key(generate.functionArn), LOCAL_ARNS.generate],
    [key(reduce.functionArn), LOCAL_ARNS.reduce],
    [key(stack.storage.bucket.bucketName), options.bucketName ?? LOCAL_NAMES.bucket],
    [key(cluster.clusterArn), LOCAL_ARNS.cluster],
    [key(securityGroup.securityGroupId), LOCAL_NAMES.securityGroup],
    ...vpc.publicSubnets.map((s, i): [string, string] => [key(s.subnetId), `${LOCAL_NAMES.subnetPrefix}${i}`]),
    [JSON.stringify({ Ref: 'AWS::Partition' }), 'aws'],
    [JSON.stringify({ Ref: 'AWS::Region' }), LOCAL_REGION],
    [JSON.stringify({ Ref: 'AWS::AccountId' }), LOCAL_ACCOUNT],
    [JSON.stringify({ Ref: 'AWS::URLSuffix' }), 'amazonaws.com'],
  ]
  return new Map(pairs)
}
