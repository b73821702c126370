/**
 * The harness itself: requests mapped to what IAM authorizes, the evaluator's encryption-context
 * gap covered without letting a wrong context through, denials named, the templates read.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTION_NAMES } from '../../functions/contract';
import { CONFIGURATIONS } from './configurations';
import { deployedStack } from './contract-dir';
import { applyEncryptionContext, conditionHolds } from './encryption-context';
import { callProblems, evaluate, impliedRequests } from './iam-check';
import { type IamRequest, iamRequestsOf, UnmappedRequestError } from './iam-requests';
import { CallLog } from './recorder';
import { constructIdOf, type PolicyDocument } from './template';

const [DEFAULTS, ALL_OPTIONS] = CONFIGURATIONS;
const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/zoom-token-vault';
const KEY = 'arn:aws:kms:us-east-1:000000000000:key/local-token-key';

describe('iamRequestsOf', () => {
  it('authorizes a query on its index, a batch read per table, a message batch as SendMessage, each event on its bus', () => {
    // Act
    const requests = [
      iamRequestsOf({ service: 'dynamodb', operation: 'Query', input: { TableName: 'zoom-token-vault', IndexName: 'status-index' } }),
      iamRequestsOf({ service: 'dynamodb', operation: 'BatchGetItem', input: { RequestItems: { 'zoom-token-vault': { Keys: [] } } } }),
      iamRequestsOf({
        service: 'sqs',
        operation: 'SendMessageBatch',
        input: { QueueUrl: 'http://127.0.0.1:9/000000000000/RefreshQueue', Entries: [] },
      }),
      iamRequestsOf({
        service: 'events',
        operation: 'PutEvents',
        input: {
          Entries: [
            { Source: 'zoom-token-vault', DetailType: 'User Registered' },
            { EventBusName: 'vault-bus', Source: 's', DetailType: 'd' },
          ],
        },
      }),
    ].flat();

    // Assess
    expect(requests).toEqual([
      { action: 'dynamodb:Query', resource: `${TABLE}/index/status-index`, context: {} },
      { action: 'dynamodb:BatchGetItem', resource: TABLE, context: {} },
      { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:RefreshQueue', context: {} },
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:us-east-1:000000000000:event-bus/default',
        context: { 'events:source': 'zoom-token-vault', 'events:detail-type': 'User Registered' },
      },
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:us-east-1:000000000000:event-bus/vault-bus',
        context: { 'events:source': 's', 'events:detail-type': 'd' },
      },
    ]);
  });

  it("carries a KMS call's encryption context as condition keys", () => {
    // Act
    const [request] = iamRequestsOf({
      service: 'kms',
      operation: 'Decrypt',
      input: { KeyId: KEY, EncryptionContext: { purpose: 'zoom-token-vault' } },
    });

    // Assess
    expect(request.context).toMatchObject({ 'kms:EncryptionContext:purpose': 'zoom-token-vault' });
  });

  it.each([
    ['an operation it does not know', { service: 'dynamodb', operation: 'ExecuteStatement', input: {} }],
    [
      'a secret named without its complete ARN',
      { service: 'secretsmanager', operation: 'GetSecretValue', input: { SecretId: 'signing-keys' } },
    ],
    ['a key named by alias', { service: 'kms', operation: 'Decrypt', input: { KeyId: 'alias/zoom-tokens' } }],
  ])('refuses to guess %s', (_what, request) => {
    // Act & Assess
    expect(() => iamRequestsOf(request)).toThrow(UnmappedRequestError);
  });
});

describe('the encryption-context gap of iam-simulate (test/aws/encryption-context.ts)', () => {
  const POLICY: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Scoped',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: KEY,
        Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'zoom-token-vault', 'aws:SecureTransport': 'true' } },
      },
      { Sid: 'Plain', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE },
    ],
  };

  it('takes out a condition the sent context meets, and keeps the rest of the statement', () => {
    // Act
    const decided = applyEncryptionContext(POLICY, { 'kms:EncryptionContext:purpose': 'zoom-token-vault' });

    // Assess
    expect(decided.Statement[0].Condition).toEqual({ StringEquals: { 'aws:SecureTransport': 'true' } });
    expect(decided.Statement).toHaveLength(2);
  });

  it.each([
    ['another purpose', { 'kms:EncryptionContext:purpose': 'other' }],
    ['no context at all', {}],
    ['the key in another case', { 'kms:EncryptionContext:Purpose': 'zoom-token-vault' }],
  ])('takes out the whole statement for %s', (_what, context) => {
    // Act
    const decided = applyEncryptionContext(POLICY, context);

    // Assess
    expect(decided.Statement.map((statement) => statement.Sid)).toEqual(['Plain']);
  });

  it('decides the operators as IAM does for an absent key: IfExists and negated ones hold, positive ones do not', () => {
    // Act & Assess
    expect(conditionHolds('StringEqualsIfExists', 'x', undefined)).toBe(true);
    expect(conditionHolds('StringNotEquals', 'x', undefined)).toBe(true);
    expect(conditionHolds('StringLike', 'x*', undefined)).toBe(false);
    expect(conditionHolds('StringLike', 'zoom-*', 'zoom-token-vault')).toBe(true);
    expect(conditionHolds('StringNotLike', 'zoom-*', 'zoom-token-vault')).toBe(false);
    expect(conditionHolds('Null', 'true', undefined)).toBe(true);
    expect(() => conditionHolds('ForAnyValue:StringEquals', 'x', 'x')).toThrow(/cannot decide/);
  });

  it("still denies, through the real evaluator, the callback's Decrypt under a wrong or absent context", async () => {
    // Prepare
    const stack = deployedStack(DEFAULTS);
    const callback = stack.functions.get('callback')!;
    const decrypt = (context: IamRequest['context']): IamRequest => ({ action: 'kms:Decrypt', resource: KEY, context });

    // Act
    const decisions = await Promise.all(
      (
        [
          { 'kms:EncryptionContext:purpose': 'zoom-token-vault' },
          { 'kms:EncryptionContext:purpose': 'other' },
          {},
        ] as IamRequest['context'][]
      ).map(async (context) => (await evaluate(stack, callback, decrypt(context))).decision),
    );

    // Assess
    expect(decisions).toEqual(['Allowed', 'ImplicitlyDenied', 'ImplicitlyDenied']);
  });
});

describe('evaluating recorded calls against the synthesized roles', () => {
  it('names the function, the action and the resource of a denied call, in every configuration', async () => {
    // Prepare
    const log = new CallLog();
    log.add({ fn: 'dispatcher', request: { action: 'dynamodb:GetItem', resource: TABLE, context: {} } });

    // Act
    const problems = await callProblems([deployedStack(DEFAULTS), deployedStack(ALL_OPTIONS)], log);

    // Assess
    expect(problems).toEqual([
      `dispatcher: dynamodb:GetItem on ${TABLE} is ImplicitlyDenied (defaults): its role grants no dynamodb:GetItem`,
      `dispatcher: dynamodb:GetItem on ${TABLE} is ImplicitlyDenied (every option on): its role grants no dynamodb:GetItem`,
    ]);
  });

  it('reports a request the harness could not map, and leaves out requests no function signed', async () => {
    // Prepare
    const log = new CallLog();
    log.observe({ accessKeyId: 'local-admin', service: 'dynamodb', operation: 'ExecuteStatement', input: {} });
    log.observe({ accessKeyId: 'local', service: 'dynamodb', operation: 'GetItem', input: { TableName: 'x' } });

    // Act
    const problems = await callProblems([deployedStack(DEFAULTS)], log);

    // Assess: the unsigned-by-a-function request is nobody's and is left out.
    expect(problems).toEqual([expect.stringMatching(/^admin: dynamodb:ExecuteStatement/)]);
    expect(log.size).toBe(0);
  });

  it('lets only the roles that seal and open tokens use the key when restrictKeyToFunctionRoles is on (the key policy decides)', async () => {
    // Prepare: the dispatcher's role given Decrypt on the key, as an administrator's might be.
    const restricted = deployedStack(ALL_OPTIONS);
    const open = deployedStack(DEFAULTS);
    const request: IamRequest = { action: 'kms:Decrypt', resource: KEY, context: { 'kms:EncryptionContext:purpose': 'zoom-token-vault' } };
    const withDecrypt = (stack: typeof open) => {
      const dispatcher = stack.functions.get('dispatcher')!;
      return [
        ...dispatcher.statements,
        { policy: 'extra', index: 0, statement: { Effect: 'Allow' as const, Action: 'kms:Decrypt', Resource: KEY } },
      ];
    };

    // Act
    const inOpen = await evaluate(open, open.functions.get('dispatcher')!, request, withDecrypt(open));
    const inRestricted = await evaluate(restricted, restricted.functions.get('dispatcher')!, request, withDecrypt(restricted));
    const callbackInRestricted = await evaluate(restricted, restricted.functions.get('callback')!, request);

    // Assess
    expect([inOpen.decision, inRestricted.decision, callbackInRestricted.decision]).toEqual(['Allowed', 'ExplicitlyDenied', 'Allowed']);
  });

  it('makes reading an imported secret decrypt with its customer-managed key, through Secrets Manager only', async () => {
    // Prepare
    const stack = deployedStack(ALL_OPTIONS);
    const admin = stack.functions.get('admin')!;
    const secret = admin.environment.RECALL_API_KEY_SECRET_ID;

    // Act
    const [, decrypt] = impliedRequests(stack, { action: 'secretsmanager:GetSecretValue', resource: secret, context: {} });
    const viaSecretsManager = await evaluate(stack, admin, decrypt);
    const direct = await evaluate(stack, admin, { ...decrypt, context: {} });

    // Assess
    expect(decrypt).toMatchObject({ action: 'kms:Decrypt', resource: ALL_OPTIONS.importedSecretsKey!.keyArn });
    expect([viaSecretsManager.decision, direct.decision]).toEqual(['Allowed', 'ImplicitlyDenied']);
  });
});

describe('the synthesized stacks as the harness reads them', () => {
  it.each(CONFIGURATIONS)('names every function of $name, each from its entry, with its bundle and handler', (configuration) => {
    // Act
    const stack = deployedStack(configuration);

    // Assess
    expect(stack.unknownFunctions).toEqual([]);
    for (const fn of stack.functions.values()) {
      expect(existsSync(join(__dirname, '..', '..', 'functions', 'lambda', `${fn.name}.ts`))).toBe(true);
      expect(fn.assetDir && existsSync(fn.assetDir)).toBe(true);
      expect(fn.statements.length).toBeGreaterThan(0);
    }
  });

  it('maps each function name to its construct id', () => {
    // Act & Assess
    expect(FUNCTION_NAMES.map(constructIdOf)).toEqual([
      'CallbackFunction',
      'BotTokenFunction',
      'AdminFunction',
      'DispatcherFunction',
      'RefreshWorkerFunction',
      'RecallHealthFunction',
      'ZoomEventsFunction',
    ]);
  });
});
