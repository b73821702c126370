import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { METRIC } from '../../functions/contract';
import { ACCESS_LOG_METRIC } from '../../lib/api';
import { ZoomTokenStack, type ZoomTokenStackProps } from '../../lib/zoom-token-stack';
import { TEST_CONTEXT, TEST_ENV } from './cdk-context';

type Resource = { Type: string; Properties: Record<string, any> };

function synthStack(props: ZoomTokenStackProps = {}, context: Record<string, unknown> = {}): ZoomTokenStack {
  const app = new App({ context: { ...TEST_CONTEXT, ...context } });
  return new ZoomTokenStack(app, 'OpsVault', { env: TEST_ENV, ...props });
}

const resources = (template: Template, type: string) => Object.values(template.findResources(type)) as Resource[];

/** Every .ts file under functions/, but the contract that names the metrics. */
function functionSources(): string {
  const root = path.join(__dirname, '..', '..', 'functions');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && full !== path.join(root, 'contract.ts')) files.push(full);
    }
  };
  walk(root);
  return files.map((file) => fs.readFileSync(file, 'utf8')).join('\n');
}

describe('alarmed metrics are published', () => {
  const sources = functionSources();
  const metricKeyOf = (name: string) => Object.entries(METRIC).find(([, value]) => value === name)?.[0];

  it.each([
    ['default', {}],
    ['detailedAlarms', { detailedAlarms: true }],
  ] as const)('every custom metric alarmed (%s) is emitted by a function or made by a metric filter', (_name, props) => {
    // Prepare
    const template = Template.fromStack(synthStack(props));
    const filtered = resources(template, 'AWS::Logs::MetricFilter')
      .flatMap((filter) => filter.Properties.MetricTransformations)
      .map((transformation: any) => transformation.MetricName);

    // Act
    // A metric math alarm names its metrics in Metrics[].MetricStat.
    const watchedBy = (alarm: Resource): Array<{ Namespace: string; MetricName: string }> =>
      alarm.Properties.Metrics
        ? alarm.Properties.Metrics.filter((query: any) => query.MetricStat).map((query: any) => query.MetricStat.Metric)
        : [alarm.Properties as { Namespace: string; MetricName: string }];
    const alarmed = [
      ...new Set(
        resources(template, 'AWS::CloudWatch::Alarm')
          .flatMap(watchedBy)
          .filter((metric) => metric.Namespace === 'ZoomTokenVault')
          .map((metric) => metric.MetricName),
      ),
    ];

    // Assess: a METRIC name appears in functions/ quoted or as METRIC.<key>; the rest come from the access log.
    expect(alarmed.length).toBeGreaterThan(5);
    for (const name of alarmed) {
      const key = metricKeyOf(name);
      if (key) {
        expect({ name, emitted: sources.includes(`'${name}'`) || sources.includes(`METRIC.${key}`) }).toEqual({ name, emitted: true });
      } else {
        expect(Object.values(ACCESS_LOG_METRIC)).toContain(name);
        expect(filtered).toContain(name);
      }
    }
  });
});

describe('notifications', () => {
  it('e-mails through a TLS-only topic encrypted with a key CloudWatch may use, and notifies an existing topic too', () => {
    // Prepare
    const topicArn = 'arn:aws:sns:eu-west-1:111111111111:ops-alarms';

    // Act
    const template = Template.fromStack(synthStack({ alarmEmail: 'ops@example.com', alarmTopicArn: topicArn }));

    // Assess
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    const [topicKeyId] = Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => id.startsWith('AlarmTopicKey'));
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [topicKeyId, 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: topicId }, topicArn],
      OKActions: [{ Ref: topicId }, topicArn],
    });
  });

  it('adds per-function Errors and Throttles alarms and the cause alarms with detailedAlarms', () => {
    // Act
    const template = Template.fromStack(synthStack({ detailedAlarms: true }));

    // Assess: 14 outcome alarms + 4 cause metrics + 6 functions × (Errors, Throttles).
    template.resourceCountIs('AWS::CloudWatch::Alarm', 30);
    for (const metricName of ['Errors', 'Throttles']) {
      expect(
        resources(template, 'AWS::CloudWatch::Alarm').filter(
          (alarm) => alarm.Properties.Namespace === 'AWS/Lambda' && alarm.Properties.MetricName === metricName,
        ),
      ).toHaveLength(6);
    }
  });

  it('builds the dashboard only when asked', () => {
    // Act
    const template = Template.fromStack(synthStack({ dashboard: true }));

    // Assess
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(resources(template, 'AWS::CloudWatch::Dashboard')[0].Properties.DashboardBody);
    for (const name of [
      'CallbackServed',
      'CallbackRefused',
      'CallbackTokenUnavailable',
      'CallbackServerErrors',
      'p99',
      'Refreshed',
      'FailedRetryable',
      'GrantsDead',
      'RefreshAnswerLost',
      'RefreshLostInFlight',
      'RefreshResultUnsaved',
      'OldestDueAgeSeconds',
      'UsersDue',
      'Dispatched',
      'Deferred',
      'ZoomMisconfigured',
      'ZoomThrottled',
      'RecallCredentialsUnhealthy',
      'EventsPublished',
      'EventsPublishFailed',
      'BotTokensMinted',
      'BotTokenFailures',
      'BotTokenThrottled',
      '5xx',
    ]) {
      expect(body).toContain(name);
    }
  });
});

describe('deploy safety', () => {
  it('turns termination protection on by default and off from context', () => {
    // Act & Assess
    expect(synthStack().terminationProtection).toBe(true);
    expect(synthStack({}, { terminationProtection: 'false' }).terminationProtection).toBe(false);
    expect(synthStack({ terminationProtection: false }).terminationProtection).toBe(false);
  });

  it("lets a test stack turn the table's deletion protection off", () => {
    // Act
    const template = Template.fromStack(synthStack({ deletionProtection: false }));

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });
});

describe('least privilege options', () => {
  let template: Template;
  const keyArn = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  beforeAll(() => {
    template = Template.fromStack(
      synthStack({
        tracing: true,
        restrictKeyToFunctionRoles: true,
        secretsKmsKeyArn: keyArn,
        recallApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-AbCdEf',
      }),
    );
  });

  const statementsOf = (functionPrefix: string) => {
    const fn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) =>
      id.startsWith(functionPrefix),
    )![1] as Resource;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    return resources(template, 'AWS::IAM::Policy')
      .filter((policy) => policy.Properties.Roles.some((role: any) => role.Ref === roleId))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  };

  it('lets only the readers of imported secrets decrypt with their key, through Secrets Manager', () => {
    // Act
    const decrypting = ['CallbackFunction', 'BotTokenFunction', 'AdminFunction', 'DispatcherFunction', 'RefreshWorkerFunction'].filter(
      (id) => statementsOf(id).some((statement) => statement.Resource === keyArn),
    );

    // Assess: only the admin function reads the imported Recall API key.
    expect(decrypting).toEqual(['AdminFunction']);
    expect(statementsOf('AdminFunction').find((statement) => statement.Resource === keyArn)).toMatchObject({
      Action: 'kms:Decrypt',
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
    });
  });

  it("denies the token key's data use to all but the sealing and opening functions, keeping the account as administrator", () => {
    // Prepare
    const key = resources(template, 'AWS::KMS::Key').find((k) => k.Properties.Description.startsWith('Envelope key'))!;
    const statements: Array<Record<string, any>> = key.Properties.KeyPolicy.Statement;
    const roleIdOf = (prefix: string) => Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith(prefix))!;

    // Assess
    expect(statements[0]).toMatchObject({ Effect: 'Allow', Action: 'kms:*' });
    const deny = statements.find((statement) => statement.Effect === 'Deny')!;
    expect(deny).toMatchObject({
      Principal: { AWS: '*' },
      Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
    });
    expect(deny.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(
      ['CallbackFunctionServiceRole', 'BotTokenFunctionServiceRole', 'AdminFunctionServiceRole', 'RefreshWorkerFunctionServiceRole'].map(
        (prefix) => ({
          'Fn::GetAtt': [roleIdOf(prefix), 'Arn'],
        }),
      ),
    );
  });

  it('traces every function with X-Ray and tells the Powertools Tracer', () => {
    // Assess
    template.allResourcesProperties('AWS::Lambda::Function', {
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: Match.objectLike({ POWERTOOLS_TRACE_ENABLED: 'true' }) },
    });
  });
});

describe('callbackWaf', () => {
  it("puts CloudFront and a rate-based WAF rule in front of the API and hands Recall the distribution's URLs", () => {
    // Act
    const stack = synthStack({ env: { ...TEST_ENV, region: 'us-east-1' }, callbackWaf: { rateLimitPer5Min: 500 } });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: { Limit: 500, AggregateKeyType: 'IP' } }, Action: { Block: {} } })],
    });
    const [distributionId] = Object.keys(template.findResources('AWS::CloudFront::Distribution'));
    template.hasOutput('CallbackUrlBase', {
      Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/zoom/token']] },
    });
  });

  it("logs every request the WebACL sees, with the caller's address, the query string (the URL signature) redacted", () => {
    // Act
    const stack = synthStack({ env: { ...TEST_ENV, region: 'us-east-1' }, callbackWaf: true });
    const template = Template.fromStack(stack);
    const [webAclId] = Object.keys(template.findResources('AWS::WAFv2::WebACL'));

    // Assess: WAF writes to log groups named aws-waf-logs-*, given without the ':*' suffix.
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: `aws-waf-logs-${stack.stackName}-callback`,
      RetentionInDays: 30,
    });
    template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
      ResourceArn: { 'Fn::GetAtt': [webAclId, 'Arn'] },
      LogDestinationConfigs: [
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, `:logs:us-east-1:${TEST_ENV.account}:log-group:aws-waf-logs-${stack.stackName}-callback`],
          ],
        },
      ],
      RedactedFields: [{ QueryString: {} }],
    });
  });

  it('fails synth outside us-east-1, saying why', () => {
    // Act & Assess
    expect(() => synthStack({ callbackWaf: true })).toThrow(
      /callbackWaf needs the stack in us-east-1 \(got eu-west-1\).*WAF cannot attach to an HTTP API/,
    );
  });

  it.each([['0'], ['many']])('rejects a rate limit of %p', (value) => {
    // Act & Assess
    expect(() => synthStack({}, { callbackWaf: value })).toThrow(/callbackWaf must be an integer from 10/);
  });
});
