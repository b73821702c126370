import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { FUNCTION_NAMES, METRIC } from '../../functions/contract';
import { ACCESS_LOG_METRIC } from '../../lib/api';
import { ALARMED_METRICS } from '../../lib/observability';
import { dispatchMaxUsers } from '../../lib/settings';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { constructIdOf } from '../aws/template';
import { TEST_CONTEXT, TEST_ENV as ENV } from './cdk-context';

// Synthesis takes a moment (the functions' prebuilt bundles are fingerprinted and staged): each
// configuration is synthesized once and its template reused.

function synth(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { ...TEST_CONTEXT, ...context } });
  const stack = new ZoomTokenStack(app, 'TestVault', { env: ENV });
  return Template.fromStack(stack);
}

type Resource = { Type: string; Properties: Record<string, any> };

/** Logical id of the one resource of `type` whose id starts with the construct id. */
function logicalId(template: Template, type: string, constructId: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(constructId));
  expect(ids).toHaveLength(1);
  return ids[0];
}

function functionRoleId(template: Template, functionId: string): string {
  const fn = template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', functionId)] as Resource;
  return fn.Properties.Role['Fn::GetAtt'][0];
}

/** Inline policy statements attached to a function's role, all of them or (default) those beyond writing its own logs. */
function roleStatements(template: Template, functionId: string, { withLogs = false } = {}): Array<Record<string, any>> {
  const roleId = functionRoleId(template, functionId);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((policy) => policy.Properties.Roles.some((role: any) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
    .filter(
      (statement: Record<string, any>) => withLogs || ![statement.Action].flat().every((action: string) => action.startsWith('logs:')),
    );
}

const actionsOf = (statement: Record<string, any>): string[] => [statement.Action].flat();

function roleActions(template: Template, functionId: string): string[] {
  return [...new Set(roleStatements(template, functionId).flatMap(actionsOf))].sort();
}

/** The functions the default stack deploys (the Zoom events function only with its route). */
const FUNCTION_IDS = FUNCTION_NAMES.filter((name) => name !== 'zoom-events').map(constructIdOf);

/** The statements of a function's role that grant `action`. */
function statementsGranting(template: Template, functionId: string, action: string): Array<Record<string, any>> {
  return roleStatements(template, functionId).filter((statement) => actionsOf(statement).includes(action));
}

/** The refresh queue's ARN, as the templates reference it. */
function queueArn(template: Template, queueId = 'RefreshQueue'): Record<string, unknown> {
  return { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', queueId), 'Arn'] };
}

function functionProperties(template: Template, functionId: string): Record<string, any> {
  return (template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', functionId)] as Resource).Properties;
}

/**
 * The resources' logical ids when ZoomTokenStack created them itself (synthesized from the
 * commit before ZoomTokenVault, stack id TestVault, defaults). Deployed stacks hold these.
 */
const IDS_BEFORE_ZOOM_TOKEN_VAULT = [
  'AdminFunction09BA95C5',
  'AdminFunctionLogGroupD9B32490',
  'AdminFunctionServiceRoleDefaultPolicyB69DB622',
  'AdminFunctionServiceRoleE19718A7',
  'ApiAccessLogsE9DF007D',
  'CallbackFunctionA4FB3452',
  'CallbackFunctionErrorsAlarm3EBCE87A',
  'CallbackFunctionLogGroup63787101',
  'CallbackFunctionServiceRoleBCA35EF9',
  'CallbackFunctionServiceRoleDefaultPolicy91493FFA',
  'CallbackServerErrorsAlarmB7D022DD',
  'CallbackTokenUnavailableAlarm297FB2D5',
  'DefaultStageEE28A986',
  'GrantsDeadAlarm7EB1500B',
  'HttpApiDELETEusersuserIdzoomcredentialAdminIntegrationPermissionD54B1442',
  'HttpApiDELETEusersuserIdzoomcredentialFD59053C',
  'HttpApiF5A9A8A7',
  'HttpApiGETusersuserIdzoomcredential0439AFCD',
  'HttpApiGETusersuserIdzoomcredentialAdminIntegrationPermission7EBBFF24',
  'HttpApiGETusersuserIdzoomcredentialaccesstokenAdminIntegrationPermission204A1CE9',
  'HttpApiGETusersuserIdzoomcredentialaccesstokenBAE7DFD5',
  'HttpApiGETzoomtoken7A12AD72',
  'HttpApiGETzoomtokenCallbackIntegrationBE9F93B9',
  'HttpApiGETzoomtokenCallbackIntegrationPermissionF81DD185',
  'HttpApiPOSTusersuserIdzoomcredentialrecallsyncAdminIntegrationPermission6D6AC975',
  'HttpApiPOSTusersuserIdzoomcredentialrecallsyncED44CB16',
  'HttpApiPUTusersuserIdzoomcredentialAdminIntegrationA2482336',
  'HttpApiPUTusersuserIdzoomcredentialAdminIntegrationPermission0291E065',
  'HttpApiPUTusersuserIdzoomcredentialB8B9F0D1',
  'RecallApiKeySecretF035AF60',
  'RefreshResultUnsavedAlarm69684484',
  'RefreshSchedule962D9DDE',
  'RefreshScheduleAllowEventRuleTestVaultRefresherFunction1CBD415AB3420D25',
  'RefresherErrorsAlarmF18FB510',
  'RefresherFunction38050F79',
  'RefresherFunctionEventInvokeConfig49659446',
  'RefresherFunctionLogGroupCF861771',
  'RefresherFunctionServiceRoleA4065492',
  'RefresherFunctionServiceRoleDefaultPolicyD11AF5FB',
  'SigningKeysSecretF47B238D',
  'SweepErrorsAlarm011C10FB',
  'TokenKeyAlias129AC994',
  'TokenKeyD1D1A236',
  'TokenTable3625D248',
  'ZoomClientSecret56CCE412',
  'ZoomMisconfiguredAlarmA5144FD4',
];

describe('ZoomTokenStack with defaults', () => {
  let template: Template;

  beforeAll(() => {
    template = synth();
  });

  it('runs every function on Node.js 22 on arm64', () => {
    // Assess
    template.resourceCountIs('AWS::Lambda::Function', 6);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'zoom-token-vault',
          DUE_INDEX_NAME: 'due-index',
          DUE_SHARDS: '8',
        }),
      },
    });
  });

  it('gives each function its own log group with a retention', () => {
    // Assess
    template.resourceCountIs('AWS::Logs::LogGroup', 7); // six functions + API access logs
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    for (const functionId of FUNCTION_IDS) {
      const id = logicalId(template, 'AWS::Lambda::Function', functionId);
      const fn = template.findResources('AWS::Lambda::Function')[id] as Resource;
      expect(fn.Properties.LoggingConfig.LogGroup.Ref).toMatch(new RegExp(`^${functionId}LogGroup`));
    }
  });

  it('configures the callback to read tokens and hand expiring ones to the refresh queue', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 20,
      MemorySize: 1024,
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: Match.anyValue(),
          KMS_KEY_ID: Match.anyValue(),
          SIGNING_KEYS_SECRET_ID: Match.anyValue(),
          REFRESH_QUEUE_URL: { Ref: logicalId(template, 'AWS::SQS::Queue', 'RefreshQueue') },
        }),
      },
    });
  });

  it('gives the Zoom app settings to the refresh workers only: no other function calls Zoom', () => {
    // Act
    const zoomVariables = (functionId: string) =>
      Object.keys(functionProperties(template, functionId).Environment.Variables).filter((name) => name.startsWith('ZOOM_'));

    // Assess
    expect(zoomVariables('RefreshWorkerFunction').sort()).toEqual(['ZOOM_CLIENT_ID', 'ZOOM_CLIENT_SECRET_SECRET_ID', 'ZOOM_TOKEN_URL']);
    for (const functionId of ['CallbackFunction', 'AdminFunction', 'DispatcherFunction', 'RecallHealthFunction']) {
      expect({ functionId, zoom: zoomVariables(functionId) }).toEqual({ functionId, zoom: [] });
    }
  });

  it("configures the admin function for Recall and the API's own URL", () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 29,
      Environment: {
        Variables: Match.objectLike({
          RECALL_API_BASE_URL: 'https://us-east-1.recall.ai',
          RECALL_API_KEY_SECRET_ID: Match.anyValue(),
          RECALL_ZOOM_OAUTH_APP_ID: '',
          PUBLIC_BASE_URL: { 'Fn::GetAtt': [logicalId(template, 'AWS::ApiGatewayV2::Api', 'HttpApi'), 'ApiEndpoint'] },
          REFRESH_QUEUE_URL: { Ref: logicalId(template, 'AWS::SQS::Queue', 'RefreshQueue') },
        }),
      },
    });
  });

  it('runs at most one dispatcher at a time, within the schedule interval', () => {
    // Act
    const dispatcher = functionProperties(template, 'DispatcherFunction');

    // Assess
    expect(dispatcher).toMatchObject({ ReservedConcurrentExecutions: 1, Timeout: 300, MemorySize: 512 });
    expect(dispatcher.Environment.Variables).toMatchObject({
      REFRESH_WINDOW_SECONDS: '900',
      // 10 workers × 10 users a batch × 300 s / 3 s a batch.
      DISPATCH_MAX_USERS: '10000',
      REFRESH_QUEUE_URL: { Ref: logicalId(template, 'AWS::SQS::Queue', 'RefreshQueue') },
      POWERTOOLS_METRICS_NAMESPACE: 'ZoomTokenVault',
    });
    // It reads no token: neither the key nor the Zoom app.
    expect(Object.keys(dispatcher.Environment.Variables)).not.toEqual(expect.arrayContaining(['KMS_KEY_ID']));
    expect(Object.keys(dispatcher.Environment.Variables).filter((name) => name.startsWith('ZOOM_'))).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'DispatcherFunction') },
      MaximumRetryAttempts: 0,
    });
  });

  it("sets DISPATCH_MAX_USERS from the settings' formula", () => {
    // Act
    const value = functionProperties(template, 'DispatcherFunction').Environment.Variables.DISPATCH_MAX_USERS;

    // Assess
    expect(value).toBe(String(dispatchMaxUsers({ refreshWorkerConcurrency: 10, refreshIntervalMinutes: 5 })));
  });

  it('gives the refresh workers a minute per batch and the Zoom app', () => {
    // Act
    const worker = functionProperties(template, 'RefreshWorkerFunction');

    // Assess
    expect(worker).toMatchObject({ Timeout: 60, MemorySize: 512 });
    expect(worker.ReservedConcurrentExecutions).toBeUndefined(); // the event source's maximum concurrency throttles
    expect(worker.Environment.Variables).toMatchObject({
      TABLE_NAME: expect.anything(),
      REFRESH_WINDOW_SECONDS: '900',
      ZOOM_CLIENT_ID: '',
      ZOOM_TOKEN_URL: 'https://zoom.us/oauth/token',
      ZOOM_CLIENT_SECRET_SECRET_ID: { Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'ZoomClientSecret') },
      KMS_KEY_ID: { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'TokenKey'), 'Arn'] },
    });
    expect(worker.Environment.Variables.REFRESH_QUEUE_URL).toBeUndefined();
  });

  it('encrypts the refresh queue and gives a batch six worker timeouts before redelivery', () => {
    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      MessageRetentionPeriod: 86_400,
      RedrivePolicy: { deadLetterTargetArn: queueArn(template, 'RefreshDeadLetterQueue'), maxReceiveCount: 5 },
    });
  });

  it('parks requests that fail five deliveries in an encrypted dead-letter queue for 14 days', () => {
    // Act
    const deadLetterQueue = template.findResources('AWS::SQS::Queue')[
      logicalId(template, 'AWS::SQS::Queue', 'RefreshDeadLetterQueue')
    ] as Resource;

    // Assess
    template.resourceCountIs('AWS::SQS::Queue', 2);
    expect(deadLetterQueue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
  });

  it('refuses plain-HTTP access to both queues', () => {
    for (const queueId of ['RefreshQueue', 'RefreshDeadLetterQueue']) {
      // Assess
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(template, 'AWS::SQS::Queue', queueId) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('delivers the refresh queue to the workers ten at a time, at most refreshWorkerConcurrency at once', () => {
    // Assess
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: queueArn(template),
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'RefreshWorkerFunction') },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('leaves the callback and bot-token routes to the URL signature and puts the admin routes behind IAM', () => {
    // Prepare
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[];

    // Act
    const authorizationByRoute = Object.fromEntries(routes.map((route) => [route.Properties.RouteKey, route.Properties.AuthorizationType]));

    // Assess
    expect(authorizationByRoute).toEqual({
      'GET /zoom/token': 'NONE',
      'GET /zoom/obf': 'NONE',
      'GET /zoom/zak': 'NONE',
      'GET /zoom/join-token': 'NONE',
      'POST /users/{userId}/zoom-credential/bot-token-urls': 'AWS_IAM',
      'GET /users': 'AWS_IAM',
      'PUT /users/{userId}/zoom-credential': 'AWS_IAM',
      'GET /users/{userId}/zoom-credential': 'AWS_IAM',
      'DELETE /users/{userId}/zoom-credential': 'AWS_IAM',
      'GET /users/{userId}/zoom-credential/access-token': 'AWS_IAM',
      'POST /users/{userId}/zoom-credential/recall-sync': 'AWS_IAM',
    });
  });

  it('throttles the default stage', () => {
    // Assess
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it('throttles the public callback and bot-token routes, each apart, and the admin routes', () => {
    // Prepare
    const callback = { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 };
    const admin = { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 };

    // Assess
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: {
        'GET /zoom/token': callback,
        'GET /zoom/obf': callback,
        'GET /zoom/zak': callback,
        'GET /zoom/join-token': callback,
        'POST /users/{userId}/zoom-credential/bot-token-urls': admin,
        'PUT /users/{userId}/zoom-credential': admin,
        'GET /users/{userId}/zoom-credential': admin,
        'DELETE /users/{userId}/zoom-credential': admin,
        'GET /users/{userId}/zoom-credential/access-token': admin,
        'POST /users/{userId}/zoom-credential/recall-sync': admin,
      },
    });
  });

  it('creates the stage after the routes its settings name', () => {
    // Prepare
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource & { DependsOn?: string[] };
    const routeIds = Object.keys(template.findResources('AWS::ApiGatewayV2::Route'));

    // Assess
    expect(routeIds).toHaveLength(11);
    expect(stage.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('keeps URL signatures out of the access log', () => {
    // Prepare
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource;

    // Act
    const format: string = stage.Properties.AccessLogSettings.Format;

    // Assess
    expect(format).toContain('$context.routeKey');
    expect(format).not.toMatch(/\$context\.path|querystring|\$request/i);
  });

  it('grants the callback reads only: no writes, no sealing, no Zoom secret', () => {
    // Act
    const actions = roleActions(template, 'CallbackFunction');

    // Assess
    expect(actions).toEqual(['dynamodb:GetItem', 'kms:Decrypt', 'secretsmanager:GetSecretValue', 'sqs:SendMessage']);
    for (const forbidden of [
      'dynamodb:UpdateItem',
      'dynamodb:PutItem',
      'dynamodb:DeleteItem',
      'dynamodb:Scan',
      'dynamodb:Query',
      'kms:GenerateDataKey',
      'kms:Encrypt',
    ]) {
      expect(actions).not.toContain(forbidden);
    }
    expect(actions.some((action) => action.includes('*'))).toBe(false);
  });

  it('lets the callback read only the signing keys', () => {
    // Act
    const [secretStatement] = statementsGranting(template, 'CallbackFunction', 'secretsmanager:GetSecretValue');

    // Assess
    expect(secretStatement.Resource).toEqual({ Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'SigningKeysSecret') });
  });

  it("grants the bot-token function the callback's reads and nothing more: the record, decrypt, the signing keys, the refresh queue", () => {
    // Act
    const actions = roleActions(template, 'BotTokenFunction');
    const [secretStatement] = statementsGranting(template, 'BotTokenFunction', 'secretsmanager:GetSecretValue');
    const [keyStatement] = statementsGranting(template, 'BotTokenFunction', 'kms:Decrypt');

    // Assess
    expect(actions).toEqual(['dynamodb:GetItem', 'kms:Decrypt', 'secretsmanager:GetSecretValue', 'sqs:SendMessage']);
    expect(secretStatement.Resource).toEqual({ Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'SigningKeysSecret') });
    expect(keyStatement.Condition).toEqual({ StringEquals: { 'kms:EncryptionContext:purpose': 'zoom-token-vault' } });
  });

  it("gives the bot-token function only the settings it reads: Zoom's API, never Zoom's OAuth client or its secret", () => {
    // Act
    const variables = functionProperties(template, 'BotTokenFunction').Environment.Variables;

    // Assess
    expect(variables.ZOOM_API_BASE_URL).toBe('https://api.zoom.us/v2');
    expect(Object.keys(variables).sort()).toEqual(
      [
        'DUE_INDEX_NAME',
        'DUE_SHARDS',
        'KMS_KEY_ID',
        'NODE_OPTIONS',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_TRACE_ENABLED',
        'REFRESH_POLICY',
        'REFRESH_QUEUE_URL',
        'SIGNING_KEYS_SECRET_ID',
        'TABLE_NAME',
        'ZOOM_API_BASE_URL',
      ].sort(),
    );
    expect(functionProperties(template, 'BotTokenFunction').Timeout).toBe(20);
  });

  it('alarms when bots repeatedly get no token for a reason an operator must act on, or are throttled', () => {
    // Prepare
    const alarm = (Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[]).find(
      (candidate) => candidate.Properties.Metrics !== undefined,
    )!;
    const stats = alarm.Properties.Metrics.filter((query: any) => query.MetricStat).map((query: any) => query.MetricStat.Metric);

    // Assess: two metrics (a math alarm is billed per metric), with the service dimension alone.
    expect(alarm.Properties).toMatchObject({ Threshold: 5, EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
    expect(stats.map((metric: any) => metric.MetricName).sort()).toEqual(['BotTokenErrors', 'BotTokenThrottled']);
    for (const metric of stats) expect(metric.Dimensions).toEqual([{ Name: 'service', Value: 'zoom-token-vault' }]);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      MetricTransformations: [Match.objectLike({ MetricName: 'BotTokenThrottled' })],
    });
  });

  it('lets the callback, the bot-token function, the admin function and the dispatcher send to the refresh queue only', () => {
    for (const functionId of ['CallbackFunction', 'BotTokenFunction', 'AdminFunction', 'DispatcherFunction']) {
      // Act
      const sqsStatements = roleStatements(template, functionId).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('sqs:')),
      );

      // Assess
      expect(sqsStatements).toHaveLength(1);
      expect(actionsOf(sqsStatements[0])).toEqual(['sqs:SendMessage']);
      expect(sqsStatements[0].Resource).toEqual(queueArn(template));
    }
  });

  it('grants the admin function record management and listing by state (status indexes, batched reads) but no scans', () => {
    // Act
    const actions = roleActions(template, 'AdminFunction');

    // Assess
    expect(actions).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:PutEvents',
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'secretsmanager:GetSecretValue',
      'sqs:SendMessage',
    ]);
    const [query] = statementsGranting(template, 'AdminFunction', 'dynamodb:Query');
    const tableArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::DynamoDB::Table', 'TokenTable'), 'Arn'] };
    expect(query.Resource).toEqual(
      ['recall-status-index', 'status-index'].map((index) => ({ 'Fn::Join': ['', [tableArn, `/index/${index}`]] })),
    );
  });

  it('lets the admin function read the signing keys and the Recall API key, not the Zoom client secret', () => {
    // Act
    const [secretStatement] = statementsGranting(template, 'AdminFunction', 'secretsmanager:GetSecretValue');

    // Assess
    const secretIds = [secretStatement.Resource]
      .flat()
      .map((resource: any) => resource.Ref)
      .sort();
    expect(secretIds).toEqual(
      [
        logicalId(template, 'AWS::SecretsManager::Secret', 'RecallApiKeySecret'),
        logicalId(template, 'AWS::SecretsManager::Secret', 'SigningKeysSecret'),
      ].sort(),
    );
  });

  it('lets the refresh workers receive from the queue, lease and save records, and read the Zoom client secret', () => {
    // Act
    const actions = roleActions(template, 'RefreshWorkerFunction');
    const [secretStatement] = statementsGranting(template, 'RefreshWorkerFunction', 'secretsmanager:GetSecretValue');
    const [receiveStatement] = statementsGranting(template, 'RefreshWorkerFunction', 'sqs:ReceiveMessage');

    // Assess
    expect(actions).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'events:PutEvents',
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'secretsmanager:GetSecretValue',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ]);
    expect(secretStatement.Resource).toEqual({ Ref: logicalId(template, 'AWS::SecretsManager::Secret', 'ZoomClientSecret') });
    expect(receiveStatement.Resource).toEqual(queueArn(template));
  });

  it('lets the dispatcher query the due-index and send to the queue, nothing else', () => {
    // Act
    const queryStatements = statementsGranting(template, 'DispatcherFunction', 'dynamodb:Query');

    // Assess
    expect(roleActions(template, 'DispatcherFunction')).toEqual(['dynamodb:Query', 'sqs:SendMessage']);
    expect(queryStatements).toHaveLength(1);
    expect(actionsOf(queryStatements[0])).toEqual(['dynamodb:Query']);
    expect(queryStatements[0].Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(template, 'AWS::DynamoDB::Table', 'TokenTable'), 'Arn'] }, '/index/due-index']],
    });
  });

  it("binds every KMS permission to the vault's encryption context", () => {
    expect(roleActions(template, 'DispatcherFunction').filter((action) => action.startsWith('kms:'))).toEqual([]);
    for (const functionId of ['CallbackFunction', 'AdminFunction', 'RefreshWorkerFunction']) {
      // Act
      const kmsStatements = roleStatements(template, functionId).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('kms:')),
      );

      // Assess
      expect(kmsStatements.length).toBeGreaterThan(0);
      for (const statement of kmsStatements) {
        expect(statement.Condition).toEqual({
          StringEquals: { 'kms:EncryptionContext:purpose': 'zoom-token-vault' },
        });
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'TokenKey'), 'Arn'] });
      }
    }
  });

  it('uses a rotating customer-managed key that outlives the stack', () => {
    // Assess
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/TestVault/zoom-tokens' });
  });

  it('keeps the key policy to the account: no public or cross-account principal', () => {
    // Prepare
    const key = Object.values(template.findResources('AWS::KMS::Key'))[0] as Resource;
    const statements: Array<Record<string, any>> = key.Properties.KeyPolicy.Statement;

    // Assess: the account root administers the key (IAM policies then grant per function, with the
    // encryption-context condition); nobody else is named in the key policy.
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({ Effect: 'Allow', Action: 'kms:*', Resource: '*' });
    expect(JSON.stringify(statements[0].Principal)).toContain(':root');
    expect(JSON.stringify(statements)).not.toMatch(/"Principal":"\*"|"AWS":"\*"/);
  });

  it('stores tokens in an on-demand table with point-in-time recovery', () => {
    // Assess
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        KeySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }],
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('indexes due records in a sharded, keys-only GSI', () => {
    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'due_shard', AttributeType: 'S' },
        { AttributeName: 'due_at', AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'due-index',
          KeySchema: [
            { AttributeName: 'due_shard', KeyType: 'HASH' },
            { AttributeName: 'due_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ]),
    });
  });

  it('generates the HMAC signing keys as JSON and keeps them', () => {
    // Assess
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({
        GenerateSecretString: {
          SecretStringTemplate: '{"active":"k1"}',
          GenerateStringKey: 'k1',
          PasswordLength: 64,
          ExcludePunctuation: true,
        },
      }),
      DeletionPolicy: 'Retain',
    });
    // Recall API key and Zoom client secret get placeholders to fill in after deploy.
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
  });

  it('runs the dispatcher every 5 minutes', () => {
    // Assess: the dispatcher's schedule and the Recall health check's.
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'DispatcherFunction'), 'Arn'] },
        }),
      ],
    });
  });

  it('alarms on outcomes by default: fourteen alarms, no per-function ones', () => {
    // Prepare
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];

    // Act
    const watched = alarms
      .map((alarm) =>
        alarm.Properties.MetricName
          ? `${alarm.Properties.Namespace}/${alarm.Properties.MetricName}`
          : (alarm.Properties.AlarmName ?? 'math'),
      )
      .sort();

    // Assess
    expect(watched).toEqual([
      'AWS/ApiGateway/5xx',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'ZoomTokenVault/CallbackThrottled',
      'ZoomTokenVault/CallbackTokenUnavailable',
      'ZoomTokenVault/Deferred',
      'ZoomTokenVault/EventsPublishFailed',
      'ZoomTokenVault/FailedRetryable',
      'ZoomTokenVault/GrantsDead',
      'ZoomTokenVault/OldestDueAgeSeconds',
      'ZoomTokenVault/RecallCredentialsUnhealthy',
      'ZoomTokenVault/RefreshLostInFlight',
      'ZoomTokenVault/RefreshResultUnsaved',
      'ZoomTokenVault/ZoomMisconfigured',
      'math',
    ]);
    for (const [metricName, threshold] of [
      ['GrantsDead', 1],
      ['RefreshResultUnsaved', 1],
      ['ZoomMisconfigured', 1],
      ['RefreshLostInFlight', 1],
      ['CallbackTokenUnavailable', 5],
      ['CallbackThrottled', 1],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'ZoomTokenVault',
        MetricName: metricName,
        Dimensions: [{ Name: 'service', Value: 'zoom-token-vault' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
    // No e-mail given: no topic.
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it("alarms on any 5xx of the HTTP API (the callback's and admin function's failures, timeouts and throttles)", () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: logicalId(template, 'AWS::ApiGatewayV2::Api', 'HttpApi') } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it("counts the callback route's 429s from the access log, per service", () => {
    // Assess
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(template, 'AWS::Logs::LogGroup', 'ApiAccessLogs') },
      FilterPattern: '{ ($.routeKey = "GET /zoom/token") && ($.status = "429") }',
      MetricTransformations: [
        {
          MetricNamespace: 'ZoomTokenVault',
          MetricName: 'CallbackThrottled',
          MetricValue: '1',
          Dimensions: [{ Key: 'service', Value: '$.service' }],
        },
      ],
    });
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource;
    expect(JSON.parse(stage.Properties.AccessLogSettings.Format)).toMatchObject({ service: 'zoom-token-vault' });
  });

  it('alarms when refreshes keep failing with retryable errors for three periods', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FailedRetryable',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 10,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('warns at synth that the alarms notify nobody', () => {
    // Prepare
    const app = new App({ context: TEST_CONTEXT });

    // Act
    const annotations = Annotations.fromStack(new ZoomTokenStack(app, 'SilentVault', { env: ENV }));

    // Assess
    annotations.hasWarning('*', Match.stringLikeRegexp('The alarms notify nobody: set alarmEmail .* or alarmTopicArn'));
  });

  it("writes each function's logs to its own log group only, without the managed basic execution role", () => {
    for (const functionId of FUNCTION_IDS) {
      // Act
      const role = template.findResources('AWS::IAM::Role')[functionRoleId(template, functionId)] as Resource;
      const logStatements = roleStatements(template, functionId, { withLogs: true }).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('logs:')),
      );

      // Assess
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(logStatements).toHaveLength(1);
      expect(actionsOf(logStatements[0]).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(logStatements[0].Resource).toEqual({
        'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', `${functionId}LogGroup`), 'Arn'],
      });
    }
  });

  it('logs as JSON and traces nothing by default', () => {
    // Assess
    template.allResourcesProperties('AWS::Lambda::Function', {
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      TracingConfig: Match.absent(),
      Environment: { Variables: Match.objectLike({ POWERTOOLS_TRACE_ENABLED: 'false' }) },
    });
  });

  it('protects the stack from deletion and the table too', () => {
    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
  });

  it('outputs an invoke ARN per admin route, and one for all that covers GET /users', () => {
    // Prepare
    const apiId = logicalId(template, 'AWS::ApiGatewayV2::Api', 'HttpApi');
    const arnOf = (tail: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':execute-api:eu-west-1:111111111111:', { Ref: apiId }, tail]],
    });

    // Assess
    template.hasOutput('AdminApiInvokeArn', { Value: arnOf('/*/*/users*') });
    template.hasOutput('AdminListInvokeArn', { Value: arnOf('/*/GET/users') });
    template.hasOutput('AdminRegisterInvokeArn', { Value: arnOf('/*/PUT/users/*/zoom-credential') });
    template.hasOutput('AdminReadInvokeArn', { Value: arnOf('/*/GET/users/*/zoom-credential') });
    template.hasOutput('AdminAccessTokenInvokeArn', { Value: arnOf('/*/GET/users/*/zoom-credential/access-token') });
    template.hasOutput('AdminDeleteInvokeArn', { Value: arnOf('/*/DELETE/users/*/zoom-credential') });
    template.hasOutput('AdminResyncInvokeArn', { Value: arnOf('/*/POST/users/*/zoom-credential/recall-sync') });
  });

  it('alarms on any refresh request in the dead-letter queue', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'RefreshDeadLetterQueue'), 'QueueName'] } },
      ],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('alarms when due tokens get close to the serve margin, or the dispatcher misses two runs in three (heartbeat)', () => {
    // Assess: 900 s window − 300 s serve margin − a minute for the workers; one period per run.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ZoomTokenVault',
      MetricName: 'OldestDueAgeSeconds',
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 540,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('alarms when the dispatcher defers due users in two of three runs', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ZoomTokenVault',
      MetricName: 'Deferred',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms only on custom metrics ALARMED_METRICS or the access-log metrics list', () => {
    // Prepare
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const known: string[] = [...ALARMED_METRICS, ...Object.values(ACCESS_LOG_METRIC)];

    // Act
    const customMetrics = alarms
      .filter((alarm) => alarm.Properties.Namespace === 'ZoomTokenVault')
      .map((alarm) => alarm.Properties.MetricName);

    // Assess
    expect(customMetrics.length).toBeGreaterThan(0);
    for (const metricName of customMetrics) expect(known).toContain(metricName);
  });

  it("alarms only on metrics the handlers publish (the contract's METRIC)", () => {
    // Prepare
    const publishedMetrics: string[] = Object.values(METRIC);

    // Assess: a name missing from METRIC is a metric nobody publishes, an alarm that never fires.
    expect(ALARMED_METRICS.length).toBeGreaterThan(0);
    for (const metricName of ALARMED_METRICS) {
      expect(publishedMetrics).toContain(metricName);
    }
  });

  it('keeps the logical ids of the retained table, key and signing keys from before ZoomTokenVault', () => {
    // Assess: a new logical id would make CloudFormation create an empty table and key (the old
    // ones are retained, not deleted) and new signing keys that invalidate every callback URL.
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual(['TokenTable3625D248']);
    expect(Object.keys(template.findResources('AWS::KMS::Key'))).toEqual(['TokenKeyD1D1A236']);
    expect(Object.keys(template.findResources('AWS::KMS::Alias'))).toEqual(['TokenKeyAlias129AC994']);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret')).sort()).toEqual([
      'RecallApiKeySecretF035AF60',
      'SigningKeysSecretF47B238D',
      'ZoomClientSecret56CCE412',
    ]);
  });

  it("keeps every logical id from before ZoomTokenVault but the refresher's, which the fan-out replaces", () => {
    // Prepare
    const resourceIds = Object.keys(template.toJSON().Resources);

    // Act
    const newIds = resourceIds.filter((id) => !IDS_BEFORE_ZOOM_TOKEN_VAULT.includes(id)).sort();
    const goneIds = IDS_BEFORE_ZOOM_TOKEN_VAULT.filter((id) => !resourceIds.includes(id)).sort();

    // Assess: the refresher and its sweep alarms go; the schedule (RefreshSchedule) stays and
    // targets the dispatcher. Table, key, secrets and API keep their ids.
    expect(goneIds).toEqual([
      'CallbackFunctionErrorsAlarm3EBCE87A',
      'CallbackServerErrorsAlarmB7D022DD',
      'RefreshScheduleAllowEventRuleTestVaultRefresherFunction1CBD415AB3420D25',
      'RefresherErrorsAlarmF18FB510',
      'RefresherFunction38050F79',
      'RefresherFunctionEventInvokeConfig49659446',
      'RefresherFunctionLogGroupCF861771',
      'RefresherFunctionServiceRoleA4065492',
      'RefresherFunctionServiceRoleDefaultPolicyD11AF5FB',
      'SweepErrorsAlarm011C10FB',
    ]);
    expect(
      newIds.filter(
        (id) =>
          !/^(Dispatcher|RefreshWorker|RefreshQueue|RefreshDeadLetter|RefreshSchedule|RefreshLostInFlight|Deferred|DueTokenLag|FailedRetryable|ApiServerErrors|CallbackThrottled|RecallHealth|EventsPublishFailed|RecallCredentialsUnhealthy|HttpApiGETusers[0-9A-F]{8}$|HttpApiGETusersAdminIntegrationPermission|BotToken|HttpApiGETzoom(obf|zak|jointoken)|HttpApiPOSTusersuserIdzoomcredentialbottokenurls)/.test(
            id,
          ),
      ),
    ).toEqual([]);
    expect(newIds.filter((id) => id.startsWith('DispatcherFunction'))).toHaveLength(5); // function, role, policy, logs, invoke config
    expect(newIds.filter((id) => id.startsWith('RefreshWorkerFunction'))).toHaveLength(5); // … and the event source mapping
  });

  it('outputs what an operator needs after deploy', () => {
    // Prepare
    const names = [
      'ApiUrl',
      'CallbackUrlBase',
      'AdminApiInvokeArn',
      'AdminRegisterInvokeArn',
      'AdminReadInvokeArn',
      'AdminAccessTokenInvokeArn',
      'AdminDeleteInvokeArn',
      'AdminResyncInvokeArn',
      'AdminListInvokeArn',
      'AdminBotTokenUrlsInvokeArn',
      'TableName',
      'KmsKeyArn',
      'SigningKeysSecretArn',
      'RecallApiKeySecretArn',
      'ZoomClientSecretArn',
    ];

    // Assess
    for (const name of names) {
      template.hasOutput(name, {});
    }
    template.hasOutput('CallbackUrlBase', {
      Value: {
        'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(template, 'AWS::ApiGatewayV2::Api', 'HttpApi'), 'ApiEndpoint'] }, '/zoom/token']],
      },
    });
  });
});

describe('ZoomTokenStack with context', () => {
  let template: Template;

  beforeAll(() => {
    // Context values arrive as strings from `cdk deploy -c name=value`.
    template = synth({
      recallRegion: 'eu-central-1',
      recallZoomOAuthAppId: '6f1c5a2e-1111-4a4a-9b9b-0123456789ab',
      zoomClientId: 'zoom-client',
      publicBaseUrl: 'https://vault.example.com/',
      refreshIntervalMinutes: '2',
      refreshWindowSeconds: '600',
      dueShards: '16',
      recallApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-api-key-AbCdEf',
      zoomClientSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:zoom-client-secret-GhIjKl',
      alarmEmail: 'ops@example.com',
      refresherReservedConcurrency: '0',
      refreshWorkerConcurrency: '50',
      callbackThrottleRate: '20',
      callbackThrottleBurst: '40',
    });
  });

  it('dispatches at the configured interval and finishes within it', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(2 minutes)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 120,
      Environment: {
        // 50 workers × 10 users a batch × 120 s / 3 s a batch.
        Variables: Match.objectLike({ REFRESH_WINDOW_SECONDS: '600', DUE_SHARDS: '16', DISPATCH_MAX_USERS: '20000' }),
      },
    });
  });

  it('runs as many refresh workers at once as configured', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 50 } });
  });

  it("sizes the dispatcher's alarms to the interval and window", () => {
    // Assess: 600 s window − 360 s; one period per two-minute run.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'OldestDueAgeSeconds', Threshold: 240, Period: 120 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Deferred', Period: 120 });
  });

  it('reserves no concurrency for the refresher when set to 0', () => {
    // Assess
    template.allResourcesProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it("throttles the callback route at the configured limits and leaves the admin routes' alone", () => {
    // Assess
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      RouteSettings: Match.objectLike({
        'GET /zoom/token': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
        'PUT /users/{userId}/zoom-credential': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      }),
    });
  });

  it('points the admin function at the regional Recall API and the public base URL', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          RECALL_API_BASE_URL: 'https://eu-central-1.recall.ai',
          RECALL_ZOOM_OAUTH_APP_ID: '6f1c5a2e-1111-4a4a-9b9b-0123456789ab',
          PUBLIC_BASE_URL: 'https://vault.example.com',
        }),
      },
    });
    expect(functionProperties(template, 'RefreshWorkerFunction').Environment.Variables.ZOOM_CLIENT_ID).toBe('zoom-client');
    template.hasOutput('CallbackUrlBase', { Value: 'https://vault.example.com/zoom/token' });
  });

  it('uses the given secrets instead of creating them', () => {
    // Act
    const [adminSecrets] = statementsGranting(template, 'AdminFunction', 'secretsmanager:GetSecretValue');
    const [workerSecrets] = statementsGranting(template, 'RefreshWorkerFunction', 'secretsmanager:GetSecretValue');

    // Assess
    template.resourceCountIs('AWS::SecretsManager::Secret', 1); // the signing keys only
    expect(adminSecrets.Resource).toEqual(
      expect.arrayContaining(['arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-api-key-AbCdEf']),
    );
    expect(workerSecrets.Resource).toBe('arn:aws:secretsmanager:eu-west-1:111111111111:secret:zoom-client-secret-GhIjKl');
  });

  it('e-mails alarm state changes', () => {
    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    const topicId = logicalId(template, 'AWS::SNS::Topic', 'AlarmTopic');
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: topicId }],
      OKActions: [{ Ref: topicId }],
    });
  });
});

describe("ZoomTokenStack checking Recall's request signature", () => {
  const IMPORTED = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-verification-MnOpQr';
  const TOKEN_FUNCTIONS = ['CallbackFunction', 'BotTokenFunction'];
  const variablesOf = (template: Template, functionId: string): Record<string, unknown> =>
    functionProperties(template, functionId).Environment.Variables;
  const warningsOf = (context: Record<string, unknown>) => {
    const app = new App({ context: { ...TEST_CONTEXT, ...context } });
    return Annotations.fromStack(new ZoomTokenStack(app, 'SignatureVault', { env: ENV })).findWarning('*', Match.anyValue());
  };
  const alarmIds = (template: Template) => Object.keys(template.findResources('AWS::CloudWatch::Alarm'));

  let defaults: Template;
  let imported: Template;
  let placeholder: Template;
  beforeAll(() => {
    defaults = synth();
    imported = synth({ recallVerificationSecretArn: IMPORTED });
    placeholder = synth({ recallSignatureMode: 'report' });
  });

  it('is off by default: no secret, no setting in any function, no alarm', () => {
    // Act
    const variables = FUNCTION_IDS.flatMap((id) => Object.keys(variablesOf(defaults, id)));

    // Assess
    expect(variables.filter((name) => name.startsWith('RECALL_VERIFICATION') || name === 'RECALL_SIGNATURE_MODE')).toEqual([]);
    defaults.resourceCountIs('AWS::SecretsManager::Secret', 3);
    expect(alarmIds(defaults).filter((id) => id.startsWith('RecallSignature'))).toEqual([]);
    expect(Object.keys(defaults.findOutputs('RecallVerificationSecretArn'))).toEqual([]);
  });

  it('with an imported secret: enforced by the callback and bot-token functions, which alone may read it', () => {
    // Act
    const readers = FUNCTION_IDS.filter((id) =>
      statementsGranting(imported, id, 'secretsmanager:GetSecretValue').some((statement) => [statement.Resource].flat().includes(IMPORTED)),
    );
    const told = FUNCTION_IDS.filter((id) => JSON.stringify(variablesOf(imported, id)).includes(IMPORTED));

    // Assess
    expect(readers).toEqual(TOKEN_FUNCTIONS);
    expect(told).toEqual(TOKEN_FUNCTIONS);
    for (const id of TOKEN_FUNCTIONS) {
      expect(variablesOf(imported, id)).toMatchObject({ RECALL_VERIFICATION_SECRET_SECRET_ID: IMPORTED, RECALL_SIGNATURE_MODE: 'enforce' });
      const [statement] = statementsGranting(imported, id, 'secretsmanager:GetSecretValue');
      expect(statement.Resource).toEqual(
        expect.arrayContaining([{ Ref: logicalId(imported, 'AWS::SecretsManager::Secret', 'SigningKeysSecret') }, IMPORTED]),
      );
      expect(statement.Resource).toHaveLength(2);
    }
    imported.resourceCountIs('AWS::SecretsManager::Secret', 3);
    imported.hasOutput('RecallVerificationSecretArn', { Value: IMPORTED });
  });

  it("alarms on any request without Recall's valid signature, and graphs them", () => {
    // Act
    const [alarm] = Object.values(imported.findResources('AWS::CloudWatch::Alarm')).filter(
      (resource) => resource.Properties.MetricName === METRIC.recallSignatureFailures,
    ) as Resource[];

    // Assess
    expect(alarm.Properties).toMatchObject({
      Namespace: 'ZoomTokenVault',
      Dimensions: [{ Name: 'service', Value: 'zoom-token-vault' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarmIds(imported).length - alarmIds(defaults).length).toBe(1);
    expect(ALARMED_METRICS).toContain(METRIC.recallSignatureFailures);
  });

  it('with a mode and no secret: a placeholder secret the token functions read, in that mode', () => {
    // Act
    const secretId = logicalId(placeholder, 'AWS::SecretsManager::Secret', 'RecallVerificationSecret');
    const secret = placeholder.findResources('AWS::SecretsManager::Secret')[secretId] as Resource;

    // Assess
    expect(secret.Properties.Description).toMatch(/whsec_/);
    expect(secret.Properties.GenerateSecretString).toBeDefined();
    for (const id of TOKEN_FUNCTIONS) {
      expect(variablesOf(placeholder, id)).toMatchObject({
        RECALL_VERIFICATION_SECRET_SECRET_ID: { Ref: secretId },
        RECALL_SIGNATURE_MODE: 'report',
      });
    }
    expect(JSON.stringify(variablesOf(placeholder, 'AdminFunction'))).not.toContain(secretId);
  });

  it('warns at synth when enforcing on a placeholder (every request refused until filled in), not in report mode or with a secret', () => {
    // Act
    const enforcing = warningsOf({ recallSignatureMode: 'enforce' });
    const others = [warningsOf({ recallSignatureMode: 'report' }), warningsOf({ recallVerificationSecretArn: IMPORTED })];

    // Assess
    const about = (warnings: Array<{ entry: { data?: unknown } }>) =>
      warnings.filter((warning) => String(warning.entry.data).includes('recallSignatureMode is enforce'));
    expect(about(enforcing)).toHaveLength(1);
    expect(String(about(enforcing)[0].entry.data)).toMatch(/refused \(403\).*-c recallSignatureMode=report first/);
    expect(others.map((warnings) => about(warnings).length)).toEqual([0, 0]);
  });
});

describe('ZoomTokenStack configuration errors', () => {
  it.each([
    [{ recallRegion: 'eu-west-1' }, /recallRegion must be one of/],
    [{ refreshIntervalMinutes: 'often' }, /refreshIntervalMinutes must be an integer/],
    [{ refreshIntervalMinutes: '46' }, /refreshIntervalMinutes must be an integer from 1 to 45/],
    [{ refreshWindowSeconds: '300' }, /refreshWindowSeconds must be an integer from 360 to 3000/],
    [
      { refreshIntervalMinutes: '10', refreshWindowSeconds: '600' },
      /refreshWindowSeconds \(600\) must be at least the refresh interval \(10 min\) plus 360 s/,
    ],
    [
      { refreshIntervalMinutes: '10', refreshWindowSeconds: '900' },
      /refreshWindowSeconds \(900\) must be at least the refresh interval \(10 min\) plus 360 s/,
    ],
    [{ dueShards: '0' }, /dueShards must be an integer/],
    [{ zoomTokenUrl: 'http://zoom.us/oauth/token' }, /zoomTokenUrl must be an https:\/\/ URL/],
    [{ refresherReservedConcurrency: '11' }, /refresherReservedConcurrency must be an integer from 0 to 10/],
    [{ refresherReservedConcurrency: '-1' }, /refresherReservedConcurrency must be an integer from 0 to 10/],
    [{ refreshWorkerConcurrency: '1' }, /refreshWorkerConcurrency must be an integer from 2 to 1000/],
    [{ refreshWorkerConcurrency: '1001' }, /refreshWorkerConcurrency must be an integer from 2 to 1000/],
    [{ refreshWorkerConcurrency: 'many' }, /refreshWorkerConcurrency must be an integer from 2 to 1000/],
    [{ callbackThrottleRate: '0' }, /callbackThrottleRate must be an integer/],
    [{ callbackThrottleBurst: '1.5' }, /callbackThrottleBurst must be an integer/],
    [{ tracing: 'maybe' }, /tracing must be true or false, got 'maybe'/],
    [{ deletionProtection: 'no' }, /deletionProtection must be true or false/],
    [{ terminationProtection: 'off' }, /terminationProtection must be true or false/],
    [{ alarmTopicArn: 'ops-alarms' }, /alarmTopicArn must be the ARN of a sns resource/],
    [{ secretsKmsKeyArn: 'arn:aws:sns:eu-west-1:111111111111:x' }, /secretsKmsKeyArn must be the ARN of a kms resource/],
    [{ recallHealthIntervalMinutes: '10' }, /recallHealthIntervalMinutes must be an integer from 15 to 1440/],
    [{ recallSignatureMode: 'audit' }, /recallSignatureMode must be one of enforce, report, got 'audit'/],
    [{ recallVerificationSecretArn: 'whsec_abc' }, /recallVerificationSecretArn must be the ARN of a secretsmanager resource/],
  ])('rejects %p', (context, message) => {
    // Prepare
    const app = new App({ context });

    // Act & Assess
    expect(() => new ZoomTokenStack(app, 'BadVault', { env: ENV })).toThrow(message);
  });
});

describe('ZoomTokenStack without Zoom and Recall app ids', () => {
  it('synthesizes, and warns that the functions cannot start yet', () => {
    // Prepare
    const app = new App({ context: TEST_CONTEXT });

    // Act
    const annotations = Annotations.fromStack(new ZoomTokenStack(app, 'UnconfiguredVault', { env: ENV }));

    // Assess
    annotations.hasWarning(
      '*',
      Match.stringLikeRegexp(
        'zoomClientId is not set.*the refresh-worker function fails at cold start.*-c zoomClientId=.*-c recallZoomOAuthAppId=',
      ),
    );
    annotations.hasWarning(
      '*',
      Match.stringLikeRegexp(
        'recallZoomOAuthAppId is not set.*the admin and Recall health check functions fail at cold start.*-c zoomClientId=.*-c recallZoomOAuthAppId=',
      ),
    );
  });
});

describe('ZoomTokenStack given settings as props', () => {
  it("lets props set the dispatcher's reserved concurrency and the refresh workers' concurrency", () => {
    // Prepare
    const app = new App({ context: { ...TEST_CONTEXT, refresherReservedConcurrency: '0', refreshWorkerConcurrency: '50' } });

    // Act
    const template = Template.fromStack(
      new ZoomTokenStack(app, 'PropsVault', {
        env: ENV,
        refresherReservedConcurrency: 2,
        refreshWorkerConcurrency: 20,
      }),
    );

    // Assess: the props win over context.
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 2,
      Environment: { Variables: Match.objectLike({ REFRESH_WINDOW_SECONDS: '900', DISPATCH_MAX_USERS: '20000' }) },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 20 } });
  });
});

describe('two ZoomTokenStacks in one account', () => {
  it('synthesize without physical-name clashes', () => {
    // Prepare
    const app = new App({ context: TEST_CONTEXT });
    const stacks = ['VaultA', 'VaultB'].map((id) => new ZoomTokenStack(app, id, { env: ENV }));

    // Act
    const assembly = app.synth();
    const templates = stacks.map((stack) => assembly.getStackByName(stack.stackName).template as { Resources: Record<string, Resource> });

    // Assess
    const aliases = templates.flatMap((template) =>
      Object.values(template.Resources)
        .filter((resource) => resource.Type === 'AWS::KMS::Alias')
        .map((resource) => resource.Properties.AliasName),
    );
    expect(new Set(aliases).size).toBe(2);
    // Everything else is named by CloudFormation: no literal physical names.
    const nameProperties = ['TableName', 'FunctionName', 'RoleName', 'Name', 'LogGroupName', 'TopicName', 'AlarmName', 'QueueName'];
    const literalNames = templates.flatMap((template) =>
      Object.values(template.Resources)
        .filter((resource) => resource.Type !== 'AWS::ApiGatewayV2::Api') // an API's name is only a label
        .flatMap((resource) =>
          nameProperties
            .filter((property) => typeof resource.Properties?.[property] === 'string')
            .map((property) => `${resource.Type}.${property}=${resource.Properties[property]}`),
        ),
    );
    expect(literalNames).toEqual([]);
  });
});
