import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { TABLE_SCHEMA, ZOOM_EVENTS_ROUTE_KEY } from '../../functions/contract';
import { ZOOM_EVENTS_THROTTLE } from '../../lib/lifecycle';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { resolveVaultSettings, ZoomTokenVault, type ZoomTokenVaultProps } from '../../lib/zoom-token-vault';
import { TEST_CONTEXT, TEST_ENV } from './cdk-context';

// The lifecycle construct (lib/lifecycle.ts): the event bus the functions publish to, the Recall
// health check on its schedule and, with zoomEventsRoute, Zoom's event route. Each
// configuration is synthesized once (bundling takes a moment) and its template reused.

type Resource = { Type: string; Properties: Record<string, any> };
type Statement = Record<string, any>;

function synthStack(context: Record<string, unknown> = {}): Template {
  const app = new App({ context: { ...TEST_CONTEXT, ...context } });
  return Template.fromStack(new ZoomTokenStack(app, 'LifecycleVault', { env: TEST_ENV }));
}

/** The vault in a stack of its own making, with `eventBus` as given. */
function synthVault(eventBus: (stack: Stack) => ZoomTokenVaultProps['eventBus']): Template {
  const app = new App({ context: TEST_CONTEXT });
  const stack = new Stack(app, 'Team', { env: TEST_ENV });
  new ZoomTokenVault(stack, 'ZoomTokens', { settings: resolveVaultSettings(stack, {}), eventBus: eventBus(stack) });
  return Template.fromStack(stack);
}

/** Logical id of the one resource of `type` whose id contains `constructId`. */
function logicalId(template: Template, type: string, constructId: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.includes(constructId));
  expect(ids).toHaveLength(1);
  return ids[0];
}

const actionsOf = (statement: Statement): string[] => [statement.Action].flat();

/** The statements of a function's role, but those writing its own logs and X-Ray traces. */
function roleStatements(template: Template, functionId: string): Statement[] {
  const fn = template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', functionId)] as Resource;
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  return (Object.values(template.findResources('AWS::IAM::Policy')) as Resource[])
    .filter((policy) => policy.Properties.Roles.some((role: any) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
    .filter((statement) => !actionsOf(statement).every((action) => action.startsWith('logs:') || action.startsWith('xray:')));
}

const statementsGranting = (template: Template, functionId: string, action: string) =>
  roleStatements(template, functionId).filter((statement) => actionsOf(statement).includes(action));

const roleActions = (template: Template, functionId: string) =>
  [...new Set(roleStatements(template, functionId).flatMap(actionsOf))].sort();

const environmentOf = (template: Template, functionId: string): Record<string, unknown> =>
  (template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', functionId)] as Resource).Properties
    .Environment.Variables;

const tableArn = (template: Template) => ({ 'Fn::GetAtt': [logicalId(template, 'AWS::DynamoDB::Table', 'TokenTable'), 'Arn'] });
const indexArn = (template: Template, indexName: string) => ({ 'Fn::Join': ['', [tableArn(template), `/index/${indexName}`]] });
const secretRef = (template: Template, secretId: string) => ({ Ref: logicalId(template, 'AWS::SecretsManager::Secret', secretId) });

const DEFAULT_BUS_ARN = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:111111111111:event-bus/default']] };

describe('the lifecycle with defaults', () => {
  let template: Template;

  beforeAll(() => {
    template = synthStack();
  });

  it('lets the admin function, the refresh workers and the Recall health check put events on the default bus only', () => {
    for (const functionId of ['AdminFunction', 'RefreshWorkerFunction', 'RecallHealthFunction']) {
      // Act
      const statements = statementsGranting(template, functionId, 'events:PutEvents');

      // Assess
      expect(statements).toHaveLength(1);
      expect(actionsOf(statements[0])).toEqual(['events:PutEvents']);
      expect(statements[0].Resource).toEqual(DEFAULT_BUS_ARN);
      expect(environmentOf(template, functionId).EVENT_BUS_NAME).toBe('default');
    }
  });

  it('lets neither the callback nor the dispatcher publish', () => {
    for (const functionId of ['CallbackFunction', 'DispatcherFunction']) {
      // Act
      const actions = roleActions(template, functionId);

      // Assess
      expect(actions.filter((action) => action.startsWith('events:'))).toEqual([]);
      expect(environmentOf(template, functionId).EVENT_BUS_NAME).toBeUndefined();
    }
  });

  it('creates no event bus', () => {
    // Assess
    template.resourceCountIs('AWS::Events::EventBus', 0);
  });

  it('checks the Recall credentials hourly, without retrying a failed run', () => {
    // Prepare
    const functionArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'RecallHealthFunction'), 'Arn'] };

    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [{ Arn: functionArn, Id: 'Target0' }],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'RecallHealthFunction') },
      MaximumRetryAttempts: 0,
    });
  });

  it('lets the Recall health check get and update records and read the Recall API key: no index, no key, no delete', () => {
    // Act
    const [records] = statementsGranting(template, 'RecallHealthFunction', 'dynamodb:GetItem');
    const [secrets] = statementsGranting(template, 'RecallHealthFunction', 'secretsmanager:GetSecretValue');

    // Assess: Recall names the unhealthy users, so no query; no key use (it opens no token), no scan, no delete.
    expect(roleActions(template, 'RecallHealthFunction')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'events:PutEvents',
      'secretsmanager:GetSecretValue',
    ]);
    expect(actionsOf(records)).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(records.Resource).toEqual(tableArn(template));
    expect(secrets.Resource).toEqual(secretRef(template, 'RecallApiKeySecret'));
  });

  it('has no Zoom events route, function or webhook secret', () => {
    // Act
    const routeKeys = (Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[]).map(
      (route) => route.Properties.RouteKey,
    );
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource;

    // Assess
    expect(routeKeys).not.toContain(ZOOM_EVENTS_ROUTE_KEY);
    expect(Object.keys(stage.Properties.RouteSettings)).not.toContain(ZOOM_EVENTS_ROUTE_KEY);
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('ZoomEvents'))).toEqual([]);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret')).filter((id) => id.startsWith('ZoomWebhook'))).toEqual([]);
  });
});

describe('the lifecycle with zoomEventsRoute and a 30-minute health check', () => {
  let template: Template;

  beforeAll(() => {
    template = synthStack({ zoomEventsRoute: 'true', recallHealthIntervalMinutes: '30', zoomClientId: 'zoomApp123' });
  });

  it('adds POST /zoom/events without an authorizer, on the Zoom events function', () => {
    // Prepare
    const routes = (Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[]).filter(
      (route) => route.Properties.RouteKey === ZOOM_EVENTS_ROUTE_KEY,
    );
    const functionId = logicalId(template, 'AWS::Lambda::Function', 'ZoomEventsFunction');

    // Assess
    template.resourceCountIs('AWS::Lambda::Function', 7);
    expect(routes).toHaveLength(1);
    expect(routes[0].Properties.AuthorizationType).toBe('NONE');
    expect(routes[0].Properties.AuthorizerId).toBeUndefined();
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [functionId, 'Arn'] },
    });
  });

  it('throttles POST /zoom/events on its own, apart from the callback and the admin routes', () => {
    // Act
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as Resource;

    // Assess
    expect(stage.Properties.RouteSettings[ZOOM_EVENTS_ROUTE_KEY]).toEqual({
      ThrottlingRateLimit: ZOOM_EVENTS_THROTTLE.rateLimit,
      ThrottlingBurstLimit: ZOOM_EVENTS_THROTTLE.burstLimit,
    });
    expect(ZOOM_EVENTS_THROTTLE).toEqual({ rateLimit: 10, burstLimit: 20 });
  });

  it('lets the Zoom events function query the zoom-user index only, deauthorize records, and read the webhook secret and the Recall API key', () => {
    // Act
    const [query] = statementsGranting(template, 'ZoomEventsFunction', 'dynamodb:Query');
    const [records] = statementsGranting(template, 'ZoomEventsFunction', 'dynamodb:GetItem');
    const [secrets] = statementsGranting(template, 'ZoomEventsFunction', 'secretsmanager:GetSecretValue');
    const [publish] = statementsGranting(template, 'ZoomEventsFunction', 'events:PutEvents');

    // Assess: the users found through the index are read in a batch; their tokens are removed by an
    // update, never a delete; no key use, no scan, no put.
    expect(roleActions(template, 'ZoomEventsFunction')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'events:PutEvents',
      'secretsmanager:GetSecretValue',
    ]);
    expect(actionsOf(query)).toEqual(['dynamodb:Query']);
    expect(query.Resource).toEqual(indexArn(template, TABLE_SCHEMA.zoomUserIndex.name));
    expect(records.Resource).toEqual(tableArn(template));
    expect([secrets.Resource].flat()).toEqual(
      expect.arrayContaining([secretRef(template, 'ZoomWebhookSecret'), secretRef(template, 'RecallApiKeySecret')]),
    );
    expect([secrets.Resource].flat()).toHaveLength(2);
    expect(publish.Resource).toEqual(DEFAULT_BUS_ARN);
    expect(environmentOf(template, 'ZoomEventsFunction')).toMatchObject({
      ZOOM_WEBHOOK_SECRET_TOKEN_SECRET_ID: secretRef(template, 'ZoomWebhookSecret'),
      EVENT_BUS_NAME: 'default',
      // Deauthorizations for another Zoom app are told apart by it.
      ZOOM_CLIENT_ID: 'zoomApp123',
    });
  });

  it('checks the Recall credentials at the configured interval', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(30 minutes)',
      Targets: [{ Arn: { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'RecallHealthFunction'), 'Arn'] }, Id: 'Target0' }],
    });
  });
});

describe('the lifecycle event bus of a ZoomTokenVault', () => {
  it("with eventBus 'create', creates a bus and lets the functions put events on that bus only", () => {
    // Act
    const template = synthVault(() => 'create');
    const busId = logicalId(template, 'AWS::Events::EventBus', 'ZoomTokensLifecycleEventBus');

    // Assess
    template.resourceCountIs('AWS::Events::EventBus', 1);
    for (const functionId of ['AdminFunction', 'RefreshWorkerFunction', 'RecallHealthFunction']) {
      const statements = statementsGranting(template, functionId, 'events:PutEvents');
      expect(statements).toHaveLength(1);
      expect(statements[0].Resource).toEqual({ 'Fn::GetAtt': [busId, 'Arn'] });
      expect(environmentOf(template, functionId).EVENT_BUS_NAME).toEqual({ Ref: busId });
    }
  });

  it('with a bus given, lets the functions put events on that bus only and creates none', () => {
    // Prepare
    const busArn = 'arn:aws:events:eu-west-1:111111111111:event-bus/app-backend';

    // Act
    const template = synthVault((stack) => EventBus.fromEventBusArn(stack, 'AppBus', busArn));

    // Assess
    template.resourceCountIs('AWS::Events::EventBus', 0);
    for (const functionId of ['AdminFunction', 'RefreshWorkerFunction', 'RecallHealthFunction']) {
      const statements = statementsGranting(template, functionId, 'events:PutEvents');
      expect(statements).toHaveLength(1);
      expect(statements[0].Resource).toBe(busArn);
      expect(environmentOf(template, functionId).EVENT_BUS_NAME).toBe('app-backend');
    }
  });
});
