import { App, CfnOutput, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { resolveVaultSettings, ZoomTokenVault } from '../../lib/zoom-token-vault';
import { TEST_CONTEXT, TEST_ENV } from './cdk-context';

type Resource = { Type: string; Properties: Record<string, any> };

describe("ZoomTokenVault in a team's own stack", () => {
  let stack: Stack;
  let vault: ZoomTokenVault;
  let template: Template;

  beforeAll(() => {
    // Prepare: a stack with resources of its own, one of them with an id the vault uses inside.
    const app = new App({ context: TEST_CONTEXT });
    stack = new Stack(app, 'Foreign', { env: TEST_ENV });
    new Table(stack, 'TokenTable', { partitionKey: { name: 'id', type: AttributeType.STRING } });
    new Queue(stack, 'Jobs');
    const backendRole = new Role(stack, 'BackendRole', { assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com') });

    // Act: what docs/packages.md tells a team to write.
    vault = new ZoomTokenVault(stack, 'ZoomTokens', {
      settings: resolveVaultSettings(stack, {
        zoomClientId: 'zoom-client',
        recallZoomOAuthAppId: '6f1c5a2e-1111-4a4a-9b9b-0123456789ab',
        alarmEmail: 'ops@example.com',
      }),
    });
    vault.grantInvokeAdminApi(backendRole);
    new CfnOutput(stack, 'ZoomCallbackUrlBase', { value: vault.callbackUrlBase });
    template = Template.fromStack(stack);
  });

  it("adds the whole service next to the stack's own resources", () => {
    // Assess
    template.resourceCountIs('AWS::Lambda::Function', 6); // callback, bot tokens, admin, dispatcher, refresh worker, Recall health check
    template.resourceCountIs('AWS::DynamoDB::Table', 2); // the team's and the vault's
    template.resourceCountIs('AWS::SQS::Queue', 3); // the team's, the refresh queue and its dead-letter queue
    template.resourceCountIs('AWS::KMS::Key', 2); // the token key and the alarm topic's
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 11);
    template.resourceCountIs('AWS::Events::Rule', 2); // the dispatcher's and the Recall health check's schedules
    template.resourceCountIs('AWS::CloudWatch::Alarm', 14);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/Foreign/zoom-tokens' });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'due-index' })]),
    });
  });

  it("names its resources after its own construct id, apart from the stack's", () => {
    // Act
    const tableIds = Object.keys(template.findResources('AWS::DynamoDB::Table'));
    const functionIds = Object.keys(template.findResources('AWS::Lambda::Function'));

    // Assess
    expect(tableIds).toHaveLength(2);
    expect(tableIds.filter((id) => id.startsWith('ZoomTokens'))).toHaveLength(1);
    expect(functionIds.every((id) => id.startsWith('ZoomTokens'))).toBe(true);
    const queueIds = Object.keys(template.findResources('AWS::SQS::Queue'));
    expect(queueIds.filter((id) => id.startsWith('ZoomTokens'))).toHaveLength(2);
  });

  it('exposes its table, key, functions, refresh queue, API and alarm topic to the stack', () => {
    // Prepare
    const logicalIdStartingWith = (type: string, prefix: string) =>
      Object.keys(template.findResources(type)).find((id) => id.startsWith(prefix))!;
    const refOf = (type: string) => ({ Ref: Object.keys(template.findResources(type)).find((id) => id.startsWith('ZoomTokens'))! });

    // Assess
    expect(stack.resolve(vault.table.tableName)).toEqual(refOf('AWS::DynamoDB::Table'));
    expect(stack.resolve(vault.key.keyId)).toEqual({ Ref: logicalIdStartingWith('AWS::KMS::Key', 'ZoomTokensStorageTokenKey') });
    expect(stack.resolve(vault.alarmTopic!.topicArn)).toEqual(refOf('AWS::SNS::Topic'));
    expect(stack.resolve(vault.apiEndpoint)).toEqual({ 'Fn::GetAtt': [refOf('AWS::ApiGatewayV2::Api').Ref, 'ApiEndpoint'] });
    const functionRefs = [
      vault.callbackFunction,
      vault.botTokenFunction,
      vault.adminFunction,
      vault.dispatcherFunction,
      vault.refreshWorkerFunction,
      vault.lifecycle.recallHealthFunction,
    ].map((fn) => stack.resolve(fn.functionName).Ref);
    expect(functionRefs.sort()).toEqual(Object.keys(template.findResources('AWS::Lambda::Function')).sort());
    expect(stack.resolve(vault.refresh.queue.queueArn)).toEqual({
      'Fn::GetAtt': [logicalIdStartingWith('AWS::SQS::Queue', 'ZoomTokensRefreshRefreshQueue'), 'Arn'],
    });
    template.hasOutput('ZoomCallbackUrlBase', {
      Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [refOf('AWS::ApiGatewayV2::Api').Ref, 'ApiEndpoint'] }, '/zoom/token']] },
    });
  });

  it("lets the team's backend call the admin routes and nothing else", () => {
    // Prepare
    const roleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith('BackendRole'))!;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];

    // Act
    const statements = policies
      .filter((policy) => policy.Properties.Roles.some((role: any) => role.Ref === roleId))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement);

    // Assess
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('execute-api:Invoke');
    expect(JSON.stringify(statements[0].Resource)).toContain('/*/*/users*');
  });
});
