import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnRoute, CfnStage, HttpApi, HttpMethod, HttpRoute, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, IMetric, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { REFRESH_WINDOW_SECONDS, SERVE_MARGIN_MS } from '../functions/domain/freshness';
import { ADMIN_ROUTE_KEYS, CALLBACK_ROUTE_KEY, splitRouteKey } from '../functions/contract';
import { TokenFunction } from './token-function';

/** Regions Recall.ai runs in; each has its own API host. */
export const RECALL_REGIONS = ['us-east-1', 'us-west-2', 'eu-central-1', 'ap-northeast-1'] as const;
export type RecallRegion = (typeof RECALL_REGIONS)[number];

/** Default Powertools `service` for logs and the metric dimension the alarms watch. */
export const DEFAULT_SERVICE_NAME = 'zoom-token-vault';
/** CloudWatch namespace the handlers publish custom metrics to. */
export const METRICS_NAMESPACE = 'ZoomTokenVault';
export const DUE_INDEX_NAME = 'due-index';
/**
 * Every data key is bound to this KMS encryption context; the IAM statements
 * require it, so the roles cannot use the key for anything else.
 */
export const ENCRYPTION_CONTEXT_PURPOSE = 'zoom-token-vault';

/**
 * Every prop is optional; an unset prop falls back to the CDK context value of
 * the same name (`cdk deploy -c refreshIntervalMinutes=10`), then to a default.
 */
export interface ZoomTokenStackProps extends StackProps {
  /**
   * Powertools service name: the `service` of log lines and the metric dimension
   * the alarms watch. Give a second stack in the same account and region its own.
   * @default 'zoom-token-vault'
   */
  readonly serviceName?: string;
  /** Recall.ai region the bots run in. @default 'us-east-1' */
  readonly recallRegion?: RecallRegion;
  /** Overrides the Recall API base URL. @default `https://<recallRegion>.recall.ai` */
  readonly recallApiBaseUrl?: string;
  /** Id of the Zoom OAuth app registered in Recall. @default '' (set it before registering users) */
  readonly recallZoomOAuthAppId?: string;
  /** Zoom OAuth app client id. @default '' */
  readonly zoomClientId?: string;
  /** @default 'https://zoom.us/oauth/token' */
  readonly zoomTokenUrl?: string;
  /** Base of the callback URLs handed to Recall, e.g. a custom domain. @default - the HTTP API's endpoint */
  readonly publicBaseUrl?: string;
  /** How often the refresher sweeps. @default 5 */
  readonly refreshIntervalMinutes?: number;
  /** The refresher renews tokens expiring within this many seconds. @default 900 */
  readonly refreshWindowSeconds?: number;
  /** Number of `due_shard` partitions the due-index is spread over. @default 8 */
  readonly dueShards?: number;
  /** Complete ARN of an existing secret holding the Recall API key. @default - a new secret with a placeholder value */
  readonly recallApiKeySecretArn?: string;
  /** Complete ARN of an existing secret holding the Zoom client secret. @default - a new secret with a placeholder value */
  readonly zoomClientSecretArn?: string;
  /** Where alarm notifications go. @default - alarms without notifications */
  readonly alarmEmail?: string;
  /**
   * Reserved concurrency of the refresher, 0 to 10. 1 keeps two sweeps from ever
   * running at once; 0 reserves nothing, for accounts whose concurrency quota is
   * still 10, where any reservation fails to deploy.
   * @default 1
   */
  readonly refresherReservedConcurrency?: number;
  /** Steady-state requests per second the public callback route `GET /zoom/token` accepts. @default 50 */
  readonly callbackThrottleRate?: number;
  /** Burst of requests the public callback route accepts. @default 100 */
  readonly callbackThrottleBurst?: number;
}

/** Per-route throttling of the admin routes, apart from the public callback route's. */
export const ADMIN_THROTTLE = { rateLimit: 10, burstLimit: 20 } as const;

export class ZoomTokenStack extends Stack {
  constructor(scope: Construct, id: string, props: ZoomTokenStackProps = {}) {
    super(scope, id, props);

    const config = resolveConfig(this, props);

    // ---------------------------------------------------------------- storage

    const table = new Table(this, 'TokenTable', {
      partitionKey: { name: 'user_id', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Users' grants cannot be recreated without each user re-authorizing Zoom.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Sparse: only active records carry due_shard/due_at, so the refresher never
    // sees users awaiting re-authorization. Sharded so its queries spread over partitions.
    table.addGlobalSecondaryIndex({
      indexName: DUE_INDEX_NAME,
      partitionKey: { name: 'due_shard', type: AttributeType.STRING },
      sortKey: { name: 'due_at', type: AttributeType.NUMBER },
      projectionType: ProjectionType.KEYS_ONLY,
    });
    const dueIndexArn = `${table.tableArn}/index/${DUE_INDEX_NAME}`;

    const tokenKey = new Key(this, 'TokenKey', {
      description: `Envelope key for the Zoom OAuth tokens stored by ${this.stackName}`,
      enableKeyRotation: true,
      // Derived from the stack name: aliases are unique per account and region.
      alias: `alias/${this.stackName}/zoom-tokens`,
      // Without the key the table's contents (and its backups) are unreadable.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // JSON: `active` names the key id new URLs are signed with; every other
    // property is key id -> key material. Rotate by adding k2, then moving `active`.
    const signingKeysSecret = new Secret(this, 'SigningKeysSecret', {
      description: `HMAC keys that sign the Recall callback URLs of ${this.stackName}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ active: 'k1' }),
        generateStringKey: 'k1',
        passwordLength: 64,
        excludePunctuation: true,
      },
      // Losing these keys invalidates every callback URL already given to Recall.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const recallApiKeySecret = importOrCreateSecret(this, 'RecallApiKeySecret', config.recallApiKeySecretArn,
      'Recall.ai API key (replace the generated placeholder after deploy)');
    const zoomClientSecret = importOrCreateSecret(this, 'ZoomClientSecret', config.zoomClientSecretArn,
      'Zoom OAuth app client secret (replace the generated placeholder after deploy)');

    // -------------------------------------------------------------- functions

    const sharedEnvironment = {
      TABLE_NAME: table.tableName,
      KMS_KEY_ID: tokenKey.keyArn,
      DUE_INDEX_NAME,
      DUE_SHARDS: String(config.dueShards),
      ZOOM_CLIENT_ID: config.zoomClientId,
      ZOOM_CLIENT_SECRET_SECRET_ID: zoomClientSecret.secretArn,
      ZOOM_TOKEN_URL: config.zoomTokenUrl,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    };

    // Data keys are usable only for this vault's records (see ENCRYPTION_CONTEXT_PURPOSE).
    const useTokenKey = () => new PolicyStatement({
      sid: 'UseTokenKeyForVaultRecordsOnly',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [tokenKey.keyArn],
      conditions: { StringEquals: { 'kms:EncryptionContext:purpose': ENCRYPTION_CONTEXT_PURPOSE } },
    });
    const readSecrets = (...secrets: ISecret[]) => new PolicyStatement({
      sid: 'ReadSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      resources: secrets.map((secret) => secret.secretArn),
    });

    // Recall stops waiting for the answer after 5 s, but a token refreshed inline
    // must still be stored after that, or the user's new refresh token is lost:
    // 20 s leaves room for that, and the handler computes its own deadlines
    // (answer Recall, finish storing) from the remaining time. 1024 MB buys a faster cold start.
    const callbackFunction = new TokenFunction(this, 'CallbackFunction', {
      serviceName: config.serviceName,
      entry: 'callback',
      description: 'Returns a Zoom access token to Recall.ai for a signed callback URL',
      timeout: Duration.seconds(20),
      memorySize: 1024,
      environment: {
        ...sharedEnvironment,
        SIGNING_KEYS_SECRET_ID: signingKeysSecret.secretArn,
      },
    });
    // Reads a record, and refreshes an expiring token inline under a lease.
    callbackFunction.addToRolePolicy(new PolicyStatement({
      sid: 'ReadAndRefreshTokenRecord',
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [table.tableArn],
    }));
    callbackFunction.addToRolePolicy(useTokenKey());
    callbackFunction.addToRolePolicy(readSecrets(signingKeysSecret, zoomClientSecret));

    const adminFunction = new TokenFunction(this, 'AdminFunction', {
      serviceName: config.serviceName,
      entry: 'admin',
      description: 'IAM-authorized API for storing, reading and deleting users\' Zoom credentials',
      timeout: Duration.seconds(29), // the HTTP API's integration timeout
      memorySize: 512,
      environment: {
        ...sharedEnvironment,
        SIGNING_KEYS_SECRET_ID: signingKeysSecret.secretArn,
        RECALL_API_BASE_URL: config.recallApiBaseUrl,
        RECALL_API_KEY_SECRET_ID: recallApiKeySecret.secretArn,
        RECALL_ZOOM_OAUTH_APP_ID: config.recallZoomOAuthAppId,
        // Filled in below, once the API exists.
      },
    });
    adminFunction.addToRolePolicy(new PolicyStatement({
      sid: 'ManageTokenRecords',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resources: [table.tableArn],
    }));
    adminFunction.addToRolePolicy(useTokenKey());
    adminFunction.addToRolePolicy(readSecrets(signingKeysSecret, recallApiKeySecret, zoomClientSecret));

    // Reserved concurrency 1 (the default): two sweeps never race each other over the
    // same records. 0 drops the reservation, for accounts whose quota can't spare one;
    // the records' leases still keep overlapping sweeps from refreshing a token twice.
    // Timeout at most the interval, so a sweep is over before the next one is due.
    const refresherFunction = new TokenFunction(this, 'RefresherFunction', {
      serviceName: config.serviceName,
      entry: 'refresher',
      description: 'Refreshes Zoom tokens that expire within the refresh window',
      timeout: Duration.minutes(Math.min(5, config.refreshIntervalMinutes)),
      memorySize: 512,
      reservedConcurrentExecutions: config.refresherReservedConcurrency || undefined,
      environment: {
        ...sharedEnvironment,
        REFRESH_WINDOW_SECONDS: String(config.refreshWindowSeconds),
      },
    });
    refresherFunction.addToRolePolicy(new PolicyStatement({
      sid: 'FindDueRecords',
      actions: ['dynamodb:Query'],
      resources: [dueIndexArn],
    }));
    refresherFunction.addToRolePolicy(new PolicyStatement({
      sid: 'ReadAndRefreshTokenRecord',
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resources: [table.tableArn],
    }));
    refresherFunction.addToRolePolicy(useTokenKey());
    refresherFunction.addToRolePolicy(readSecrets(zoomClientSecret));
    // A missed or failed sweep is picked up by the next one; don't queue retries behind it.
    refresherFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.seconds(Math.max(60, config.refreshIntervalMinutes * 60)),
    });

    // -------------------------------------------------------------------- API

    const api = new HttpApi(this, 'HttpApi', {
      description: `Zoom token vault (${this.stackName})`,
      // Created below, to set throttling and access logs on it.
      createDefaultStage: false,
    });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      // Routes without their own limits below (none today) fall back to these.
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(new LogGroup(this, 'ApiAccessLogs', {
          retention: RetentionDays.ONE_MONTH,
        })),
        // Route key, not path + query string: the query carries the URL signature.
        format: AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId',
          requestTime: '$context.requestTime',
          sourceIp: '$context.identity.sourceIp',
          userArn: '$context.identity.userArn',
          routeKey: '$context.routeKey',
          status: '$context.status',
          responseLatency: '$context.responseLatency',
          integrationStatus: '$context.integrationStatus',
          integrationError: '$context.integrationErrorMessage',
        })),
      },
    });

    const publicBaseUrl = config.publicBaseUrl ?? api.apiEndpoint;
    adminFunction.addEnvironment('PUBLIC_BASE_URL', publicBaseUrl);

    // Recall calls this with a plain GET; the HMAC signature in the URL is the authorization.
    const routeOf = (routeKey: string) => {
      const { method, path } = splitRouteKey(routeKey);
      return { path, methods: [method as HttpMethod] };
    };
    const callbackRoutes = api.addRoutes({
      ...routeOf(CALLBACK_ROUTE_KEY),
      integration: new HttpLambdaIntegration('CallbackIntegration', callbackFunction),
    });

    const adminIntegration = new HttpLambdaIntegration('AdminIntegration', adminFunction);
    const iamAuthorizer = new HttpIamAuthorizer();
    const adminRoutes = ADMIN_ROUTE_KEYS.flatMap((routeKey) =>
      api.addRoutes({ ...routeOf(routeKey), integration: adminIntegration, authorizer: iamAuthorizer }),
    );

    // Per-route limits, so junk requests to the public callback route use up its own
    // budget instead of starving the admin API. HttpStage has no prop for route
    // settings; the L1 takes them as a map from route key to settings.
    const throttleFor = (routes: HttpRoute[], limits: { rateLimit: number; burstLimit: number }) =>
      Object.fromEntries(routes.map((route) => [routeKeyOf(route), {
        ThrottlingRateLimit: limits.rateLimit,
        ThrottlingBurstLimit: limits.burstLimit,
      }]));
    (stage.node.defaultChild as CfnStage).routeSettings = {
      ...throttleFor(callbackRoutes, { rateLimit: config.callbackThrottleRate, burstLimit: config.callbackThrottleBurst }),
      ...throttleFor(adminRoutes, ADMIN_THROTTLE),
    };
    // CloudFormation rejects route settings for routes that don't exist yet.
    stage.node.addDependency(...callbackRoutes, ...adminRoutes);

    // --------------------------------------------------------------- schedule

    new Rule(this, 'RefreshSchedule', {
      description: 'Sweeps for Zoom tokens about to expire',
      schedule: Schedule.rate(Duration.minutes(config.refreshIntervalMinutes)),
      targets: [new LambdaFunction(refresherFunction)],
    });

    // ----------------------------------------------------------------- alarms

    let alarmTopic: Topic | undefined;
    if (config.alarmEmail) {
      alarmTopic = new Topic(this, 'AlarmTopic', { displayName: `${this.stackName} alarms` });
      alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    }

    const period = Duration.minutes(5);
    const vaultMetric = (metricName: string) => new Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: config.serviceName },
      statistic: 'Sum',
      period,
    });
    const alarmOn = (id: string, metric: IMetric, description: string, threshold = 1) => {
      const alarm = new Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // No data means nothing ran or nothing went wrong.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      if (alarmTopic) {
        alarm.addAlarmAction(new SnsAction(alarmTopic));
        alarm.addOkAction(new SnsAction(alarmTopic));
      }
    };
    // All functions publish GrantsDead, RefreshResultUnsaved and ZoomMisconfigured; the
    // refresher SweepErrors; the callback one metric per answer it gives Recall.
    alarmOn('RefresherErrorsAlarm', refresherFunction.metricErrors({ period, statistic: 'Sum' }),
      'The token refresher failed; tokens may expire unrefreshed.');
    alarmOn('SweepErrorsAlarm', vaultMetric('SweepErrors'),
      'The token refresher could not refresh some records; their tokens may expire unrefreshed.');
    // The handler answers its own failures with a 500 (counted in CallbackServerErrors); Lambda's
    // Errors count what it cannot answer for: timeouts and failed cold starts.
    alarmOn('CallbackServerErrorsAlarm', vaultMetric('CallbackServerErrors'),
      'The Recall callback answered 500; bots may fail to join Zoom meetings.');
    alarmOn('CallbackFunctionErrorsAlarm', callbackFunction.metricErrors({ period, statistic: 'Sum' }),
      'The Recall callback timed out or failed to start (configuration?); bots may fail to join Zoom meetings.');
    alarmOn('CallbackTokenUnavailableAlarm', vaultMetric('CallbackTokenUnavailable'),
      'The Recall callback repeatedly had no Zoom token to give (503); bots may fail to join Zoom meetings.', 5);
    alarmOn('GrantsDeadAlarm', vaultMetric('GrantsDead'),
      'Zoom rejected a refresh token: the affected users must authorize Zoom again.');
    alarmOn('RefreshResultUnsavedAlarm', vaultMetric('RefreshResultUnsaved'),
      'A refreshed Zoom token could not be saved; the user\'s grant may be lost.');
    alarmOn('ZoomMisconfiguredAlarm', vaultMetric('ZoomMisconfigured'),
      'Zoom rejected the app credentials: the Zoom client id or client secret is wrong (or still the placeholder).');

    // ---------------------------------------------------------------- outputs

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the HTTP API',
      value: api.apiEndpoint,
    });
    new CfnOutput(this, 'CallbackUrlBase', {
      description: 'Signed callback URLs handed to Recall start with this',
      value: `${publicBaseUrl}/zoom/token`,
    });
    new CfnOutput(this, 'AdminApiInvokeArn', {
      description: 'Grant execute-api:Invoke on this to the backend that calls the admin API',
      value: api.arnForExecuteApi('*', '/users/*'),
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'KmsKeyArn', { value: tokenKey.keyArn });
    new CfnOutput(this, 'SigningKeysSecretArn', { value: signingKeysSecret.secretArn });
    new CfnOutput(this, 'RecallApiKeySecretArn', { value: recallApiKeySecret.secretArn });
    new CfnOutput(this, 'ZoomClientSecretArn', { value: zoomClientSecret.secretArn });
    if (alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
    }
  }
}

/** The `METHOD /path` key API Gateway knows a route by. */
function routeKeyOf(route: HttpRoute): string {
  return (route.node.defaultChild as CfnRoute).routeKey;
}

/** Uses the secret at `arn` when given; otherwise creates one with a placeholder for the operator to replace. */
function importOrCreateSecret(scope: Construct, id: string, arn: string | undefined, description: string): ISecret {
  if (arn) {
    return Secret.fromSecretCompleteArn(scope, id, arn);
  }
  return new Secret(scope, id, {
    description,
    generateSecretString: { passwordLength: 32, excludePunctuation: true },
  });
}

interface ResolvedConfig {
  readonly serviceName: string;
  readonly recallApiBaseUrl: string;
  readonly recallZoomOAuthAppId: string;
  readonly zoomClientId: string;
  readonly zoomTokenUrl: string;
  readonly publicBaseUrl?: string;
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
  readonly dueShards: number;
  readonly recallApiKeySecretArn?: string;
  readonly zoomClientSecretArn?: string;
  readonly alarmEmail?: string;
  readonly refresherReservedConcurrency: number;
  readonly callbackThrottleRate: number;
  readonly callbackThrottleBurst: number;
}

/** The props that can also be given as CDK context. */
type SettingName = Exclude<keyof ZoomTokenStackProps, keyof StackProps>;

/** Props win over context (`-c name=value`), context over defaults. Fails synth on a bad value. */
function resolveConfig(stack: Stack, props: ZoomTokenStackProps): ResolvedConfig {
  const text = (name: SettingName): string | undefined => {
    const value = props[name] ?? stack.node.tryGetContext(name);
    if (value === undefined || value === null) return undefined;
    return String(value).trim();
  };
  const nonEmpty = (name: SettingName) => text(name) || undefined;
  const integer = (name: SettingName, fallback: number, min: number, max: number): number => {
    const raw = nonEmpty(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
    }
    return value;
  };
  const url = (name: SettingName): string | undefined => {
    const raw = nonEmpty(name);
    if (raw === undefined) return undefined;
    if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(raw)) {
      throw new Error(`${name} must be an https:// URL, got '${raw}'`);
    }
    return raw.replace(/\/+$/, '');
  };

  const recallRegion = nonEmpty('recallRegion') ?? 'us-east-1';
  if (!(RECALL_REGIONS as readonly string[]).includes(recallRegion)) {
    throw new Error(`recallRegion must be one of ${RECALL_REGIONS.join(', ')}, got '${recallRegion}'`);
  }

  // The refresher's own range (it refuses to start outside it).
  const refreshWindowSeconds = integer('refreshWindowSeconds', REFRESH_WINDOW_SECONDS.default, REFRESH_WINDOW_SECONDS.min, REFRESH_WINDOW_SECONDS.max);
  const refreshIntervalMinutes = integer('refreshIntervalMinutes', 5, 1, 45);
  // A token must be caught by a sweep before it drops under the callback's serve margin.
  const serveMarginSeconds = SERVE_MARGIN_MS / 1000;
  if (refreshWindowSeconds < refreshIntervalMinutes * 60 + serveMarginSeconds) {
    throw new Error(
      `refreshWindowSeconds (${refreshWindowSeconds}) must be at least the refresh interval (${refreshIntervalMinutes} min) `
      + `plus ${serveMarginSeconds} s, or tokens reach the callback unrefreshed`,
    );
  }

  // Both synthesize empty so the stack can be inspected, but the handlers refuse to start without them.
  const howToSet = 'Set both with `cdk deploy -c zoomClientId=<Zoom OAuth app client id> '
    + '-c recallZoomOAuthAppId=<id of that Zoom OAuth app in Recall>` (or the stack props of the same names).';
  const zoomClientId = text('zoomClientId') ?? '';
  if (!zoomClientId) {
    Annotations.of(stack).addWarningV2('zoom-token-vault:zoomClientId',
      'zoomClientId is not set, so ZOOM_CLIENT_ID is empty: every function (callback, admin, refresher) '
      + `fails at cold start until it is. ${howToSet}`);
  }
  const recallZoomOAuthAppId = text('recallZoomOAuthAppId') ?? '';
  if (!recallZoomOAuthAppId) {
    Annotations.of(stack).addWarningV2('zoom-token-vault:recallZoomOAuthAppId',
      'recallZoomOAuthAppId is not set, so RECALL_ZOOM_OAUTH_APP_ID is empty: the admin function fails at '
      + `cold start until it is. ${howToSet}`);
  }

  return {
    serviceName: nonEmpty('serviceName') ?? DEFAULT_SERVICE_NAME,
    recallApiBaseUrl: url('recallApiBaseUrl') ?? `https://${recallRegion}.recall.ai`,
    recallZoomOAuthAppId,
    zoomClientId,
    zoomTokenUrl: url('zoomTokenUrl') ?? 'https://zoom.us/oauth/token',
    publicBaseUrl: url('publicBaseUrl'),
    refreshIntervalMinutes,
    refreshWindowSeconds,
    dueShards: integer('dueShards', 8, 1, 100),
    recallApiKeySecretArn: nonEmpty('recallApiKeySecretArn'),
    zoomClientSecretArn: nonEmpty('zoomClientSecretArn'),
    alarmEmail: nonEmpty('alarmEmail'),
    refresherReservedConcurrency: integer('refresherReservedConcurrency', 1, 0, 10),
    // API Gateway's default account limits: 10,000 requests per second, bursts of 5,000.
    callbackThrottleRate: integer('callbackThrottleRate', 50, 1, 10000),
    callbackThrottleBurst: integer('callbackThrottleBurst', 100, 1, 5000),
  };
}
