/**
 * The IAM check: each recorded call evaluated with @cloud-copilot/iam-simulate against its
 * function's role in a synthesized template (and the key or queue policy when the resource has
 * one), as AWS would evaluate it; and the other way round, every grant of a role used by some
 * call, and no statement, resource or action of a role removable without denying one.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { FunctionName } from '../../functions/contract';
import { isAllowedUnused } from './allowlist';
import { applyEncryptionContext } from './encryption-context';
import { FAKE_ACCOUNT, FAKE_REGION, type IamRequest } from './iam-requests';
import { callKey, type FunctionCall } from './recorder';
import type { DeployedFunction, DeployedStack, PolicyDocument, PolicyStatement, RoleStatement } from './template';

export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface Verdict {
  configuration: string;
  call: FunctionCall;
  decision: Decision;
  /** Why, for a denial: what the role grants for the action, or the statement that denies it. */
  why?: string;
}

/** AWS's default key policy: the account's IAM policies decide (assumed for a key the stack does not own). */
const DEFAULT_KEY_POLICY: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${FAKE_ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
};

/** The calls a function's role makes besides its code's, each time the Lambda service runs it. */
export function lambdaServiceCalls(fn: DeployedFunction, options: { fromQueue?: string } = {}): FunctionCall[] {
  const stream = `arn:aws:logs:${FAKE_REGION}:${FAKE_ACCOUNT}:log-group:${fn.logGroupName}:log-stream:2026/01/01/[$LATEST]0123456789abcdef`;
  const requests: IamRequest[] = [
    { action: 'logs:CreateLogStream', resource: stream, context: {} },
    { action: 'logs:PutLogEvents', resource: stream, context: {} },
    // Active tracing: the runtime's X-Ray daemon sends the segments with the function's role.
    ...(fn.tracing ? ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'].map((action) => ({ action, resource: '*', context: {} })) : []),
    // An event source mapping polls the queue, and deletes what the function handled, as the function.
    ...(options.fromQueue
      ? ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'].map((action) => ({
          action,
          resource: options.fromQueue!,
          context: {},
        }))
      : []),
  ];
  return requests.map((request) => ({ fn: fn.name, request }));
}

/**
 * What a request makes AWS authorize besides itself, as the same caller: reading a secret under a
 * customer-managed key, Secrets Manager decrypts it with the caller's permissions (kms:ViaService).
 */
export function impliedRequests(stack: DeployedStack, request: IamRequest): IamRequest[] {
  const key = request.action === 'secretsmanager:GetSecretValue' ? stack.secretKmsKeys.get(request.resource) : undefined;
  if (!key) return [request];
  return [
    request,
    {
      action: 'kms:Decrypt',
      resource: key,
      context: {
        'kms:ViaService': `secretsmanager.${FAKE_REGION}.amazonaws.com`,
        'kms:CallerAccount': FAKE_ACCOUNT,
        'kms:EncryptionContext:SecretARN': request.resource,
      },
    },
  ];
}

function resourcePolicyFor(stack: DeployedStack, request: IamRequest): PolicyDocument | undefined {
  if (request.action.startsWith('kms:')) return stack.keyPolicies.get(request.resource) ?? DEFAULT_KEY_POLICY;
  if (request.action.startsWith('sqs:')) return stack.queuePolicies.get(request.resource);
  return undefined;
}

function identityPolicies(statements: RoleStatement[], context: IamRequest['context']) {
  const byPolicy = new Map<string, PolicyStatement[]>();
  for (const { policy, statement } of statements) byPolicy.set(policy, [...(byPolicy.get(policy) ?? []), statement]);
  return [...byPolicy]
    .map(([name, statement]) => ({ name, policy: applyEncryptionContext({ Version: '2012-10-17', Statement: statement }, context) }))
    .filter(({ policy }) => policy.Statement.length > 0);
}

const label = (statement: PolicyStatement) => statement.Sid ?? JSON.stringify([statement.Action].flat());

/** One request, as `fn` with these role statements, evaluated as AWS would. */
export async function evaluate(
  stack: DeployedStack,
  fn: DeployedFunction,
  request: IamRequest,
  statements: RoleStatement[] = fn.statements,
): Promise<{ decision: Decision; why?: string }> {
  const resourcePolicy = resourcePolicyFor(stack, request);
  const decidedResourcePolicy = resourcePolicy && applyEncryptionContext(resourcePolicy, request.context);
  const result = await runSimulation(
    {
      request: {
        principal: fn.sessionArn,
        action: request.action,
        resource: { resource: request.resource, accountId: FAKE_ACCOUNT },
        contextVariables: {
          'aws:PrincipalArn': fn.roleArn,
          'aws:PrincipalAccount': FAKE_ACCOUNT,
          'aws:SecureTransport': 'true',
          'aws:RequestedRegion': FAKE_REGION,
          ...request.context,
        },
      },
      identityPolicies: identityPolicies(statements, request.context),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(decidedResourcePolicy ? { resourcePolicy: decidedResourcePolicy } : {}),
    },
    {},
  );
  if (result.resultType === 'error')
    throw new Error(`iam-simulate refused ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  const decision = result.overallResult as Decision;
  if (decision === 'Allowed') return { decision };
  return { decision, why: explain(statements, request, decision, resourcePolicy) };
}

function explain(statements: RoleStatement[], request: IamRequest, decision: Decision, resourcePolicy?: PolicyDocument): string {
  if (decision === 'ExplicitlyDenied') {
    const denying = [...statements.map((s) => s.statement), ...(resourcePolicy?.Statement ?? [])].filter((s) => s.Effect === 'Deny');
    return `denied by ${denying.map(label).join(', ') || 'a Deny statement'}`;
  }
  const granting = statements.filter(({ statement }) => grants(statement, request.action));
  if (granting.length === 0) return `its role grants no ${request.action}`;
  return `its role grants ${request.action} only on ${granting.map(({ statement }) => [statement.Resource].flat().join(', ')).join('; ')}`;
}

/** IAM's wildcards (`*`, `?`); actions compare without case. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

function grants(statement: PolicyStatement, action: string): boolean {
  return statement.Effect === 'Allow' && [statement.Action ?? []].flat().some((pattern) => wildcardMatch(pattern, action, true));
}

/** Every distinct call of the calls, with what it implies, once. */
function expand(stack: DeployedStack, calls: FunctionCall[]): FunctionCall[] {
  const all = new Map<string, FunctionCall>();
  for (const call of calls) {
    for (const request of impliedRequests(stack, call.request)) {
      const expanded = { fn: call.fn, request };
      all.set(callKey(expanded), expanded);
    }
  }
  return [...all.values()];
}

/** The verdict on every call of a function this configuration deploys. */
export async function checkCalls(stack: DeployedStack, calls: FunctionCall[]): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  for (const call of expand(stack, calls)) {
    const fn = stack.functions.get(call.fn);
    if (!fn) continue;
    verdicts.push({ configuration: stack.configuration, call, ...(await evaluate(stack, fn, call.request)) });
  }
  return verdicts;
}

export function describeVerdict({ configuration, call, decision, why }: Verdict): string {
  return `${call.fn}: ${call.request.action} on ${call.request.resource} is ${decision} (${configuration}): ${why ?? ''}`;
}

/** The denials among the verdicts, one line each naming function, action and resource. */
export function denials(verdicts: Verdict[]): string[] {
  return verdicts.filter((verdict) => verdict.decision !== 'Allowed').map(describeVerdict);
}

// ---------------------------------------------------------------------------------------------
// The other way round: every grant used, every statement needed
// ---------------------------------------------------------------------------------------------

const list = (value: string | string[] | undefined): string[] => [value ?? []].flat();

/** (action, resource) pairs a role grants that no call of its function uses, unless allowlisted. */
export function unusedGrants(stack: DeployedStack, calls: FunctionCall[]): string[] {
  const expanded = expand(stack, calls);
  const unused: string[] = [];
  for (const fn of stack.functions.values()) {
    const own = expanded.filter((call) => call.fn === fn.name);
    for (const { statement } of fn.statements) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of list(statement.Action)) {
        if (isAllowedUnused(fn.name, action)) continue;
        for (const resource of list(statement.Resource)) {
          const used = own.some(
            (call) => wildcardMatch(action, call.request.action, true) && wildcardMatch(resource, call.request.resource),
          );
          if (!used)
            unused.push(
              `${fn.name}: ${label(statement)} grants ${action} on ${resource}, which no recorded call uses (${stack.configuration})`,
            );
        }
      }
    }
  }
  return unused;
}

interface Mutation {
  fn: FunctionName;
  description: string;
  statements: RoleStatement[];
}

function without<T>(items: T[], index: number): T[] {
  return items.filter((_, i) => i !== index);
}

/** Each statement of the role removed in turn; and each resource, and each action, of a statement naming several. */
function mutationsOf(fn: DeployedFunction): Mutation[] {
  const mutations: Mutation[] = [];
  fn.statements.forEach((entry, i) => {
    const { statement } = entry;
    const replaced = (changed: PolicyStatement) => fn.statements.map((other, j) => (j === i ? { ...entry, statement: changed } : other));
    mutations.push({ fn: fn.name, description: `without statement ${label(statement)}`, statements: without(fn.statements, i) });
    const resources = list(statement.Resource);
    if (resources.length > 1) {
      resources.forEach((resource, r) => {
        mutations.push({
          fn: fn.name,
          description: `with ${label(statement)} not granting on ${resource}`,
          statements: replaced({ ...statement, Resource: without(resources, r) }),
        });
      });
    }
    const actions = list(statement.Action);
    if (actions.length > 1) {
      actions.forEach((action, a) => {
        if (isAllowedUnused(fn.name, action)) return;
        mutations.push({
          fn: fn.name,
          description: `with ${label(statement)} not granting ${action}`,
          statements: replaced({ ...statement, Action: without(actions, a) }),
        });
      });
    }
  });
  return mutations;
}

export interface MutationOutcome {
  fn: FunctionName;
  description: string;
  /** The calls the mutated role denies (none: nothing needs what was removed). */
  denied: string[];
}

/** Every mutation of every role, and the recorded calls each one denies. */
export async function mutationOutcomes(stack: DeployedStack, calls: FunctionCall[]): Promise<MutationOutcome[]> {
  const expanded = expand(stack, calls);
  const outcomes: MutationOutcome[] = [];
  for (const fn of stack.functions.values()) {
    const own = expanded.filter((call) => call.fn === fn.name);
    for (const mutation of mutationsOf(fn)) {
      const denied: string[] = [];
      for (const call of own) {
        const { decision } = await evaluate(stack, fn, call.request, mutation.statements);
        if (decision !== 'Allowed') denied.push(`${call.request.action} on ${call.request.resource}`);
      }
      outcomes.push({ fn: fn.name, description: mutation.description, denied });
    }
  }
  return outcomes;
}

/**
 * What is wrong with a log's calls in any configuration: requests the harness could not map,
 * calls of a function no configuration deploys, and every denial.
 */
export async function callProblems(stacks: DeployedStack[], log: { distinct(): FunctionCall[]; unmapped(): string[] }): Promise<string[]> {
  const calls = log.distinct();
  const problems = [...log.unmapped()];
  for (const fn of new Set(calls.map((call) => call.fn))) {
    if (!stacks.some((stack) => stack.functions.has(fn))) problems.push(`${fn}: made AWS calls, but no contract configuration deploys it`);
  }
  for (const stack of stacks) problems.push(...denials(await checkCalls(stack, calls)));
  return problems;
}
