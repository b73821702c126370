import { Stack } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnRoute,
  type CfnStage,
  HttpApi,
  type HttpMethod,
  type HttpRoute,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  ADMIN_ROUTE_KEYS,
  type AdminRouteKey,
  BOT_TOKEN_ROUTE_KEYS,
  CALLBACK_ROUTE_KEY,
  METRICS_NAMESPACE,
  splitRouteKey,
} from '../functions/contract';
import { acknowledge } from './nag';

export interface ThrottleLimits {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** Per-route throttling of the admin routes, apart from the public callback route's. */
export const ADMIN_THROTTLE: ThrottleLimits = { rateLimit: 10, burstLimit: 20 };
/** The stage's own limits: routes without limits of their own (none today) fall back to these. */
export const STAGE_THROTTLE: ThrottleLimits = { rateLimit: 50, burstLimit: 100 };

/**
 * Metrics made from the access log by metric filters, not published by the functions (so not in
 * the contract's METRIC): namespace METRICS_NAMESPACE, dimension `service` like the rest.
 * HTTP APIs have no per-route 4xx metric unless detailed route metrics are on, which publish
 * six metrics for each of the seven routes ($12.60 a month) and count 403s with the 429s; one
 * metric filter on the access log gives exactly the callback's 429s for $0.30, and nothing while
 * there are none.
 */
export const ACCESS_LOG_METRIC = {
  /** `GET /zoom/token` answered 429: the route's throttle turned Recall away. */
  callbackThrottled: 'CallbackThrottled',
  /** A bot-token route answered 429: its throttle turned a bot away. */
  botTokenThrottled: 'BotTokenThrottled',
} as const;

/** The admin routes one by one, named for the stack outputs of their invoke ARNs. */
export const ADMIN_ROUTE_NAMES: Record<AdminRouteKey, string> = {
  'GET /users': 'List',
  'PUT /users/{userId}/zoom-credential': 'Register',
  'GET /users/{userId}/zoom-credential': 'Read',
  'DELETE /users/{userId}/zoom-credential': 'Delete',
  'GET /users/{userId}/zoom-credential/access-token': 'AccessToken',
  'POST /users/{userId}/zoom-credential/recall-sync': 'Resync',
  'POST /users/{userId}/zoom-credential/bot-token-urls': 'BotTokenUrls',
};

/** Route key, not path + query string: the query carries the URL signature. */
const accessLogFormat = (serviceName: string) =>
  AccessLogFormat.custom(
    JSON.stringify({
      // A literal, for the metric filters' `service` dimension.
      service: serviceName,
      requestId: '$context.requestId',
      requestTime: '$context.requestTime',
      sourceIp: '$context.identity.sourceIp',
      userArn: '$context.identity.userArn',
      routeKey: '$context.routeKey',
      status: '$context.status',
      responseLatency: '$context.responseLatency',
      integrationStatus: '$context.integrationStatus',
      integrationError: '$context.integrationErrorMessage',
    }),
  );

export interface VaultApiProps {
  /** The `service` dimension of the access-log metrics. */
  readonly serviceName: string;
  /** Answers the public callback route Recall calls. */
  readonly callbackFunction: IFunction;
  /** Answers the public bot-token routes (`GET /zoom/obf`, `/zoom/zak`, `/zoom/join-token`) Recall's bots call. */
  readonly botTokenFunction: IFunction;
  /** Answers the IAM-authorized admin routes. */
  readonly adminFunction: IFunction;
  /** Limits of the public callback route, and of each bot-token route on its own. */
  readonly callbackThrottle: ThrottleLimits;
}

/**
 * The HTTP API: the public callback route (authorized by the HMAC signature in its URL) and the
 * admin routes behind IAM, each throttled on its own, with access logs that leave out signatures.
 */
export class VaultApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  private readonly serviceName: string;
  /** Per-route limits so far (route key → limits); the stage's routeSettings. */
  private readonly routeThrottles: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};

  constructor(scope: Construct, id: string, props: VaultApiProps) {
    super(scope, id);
    this.serviceName = props.serviceName;
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: `Zoom token vault (${Stack.of(this).stackName})`,
      // Created below, to set throttling and access logs on it.
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: STAGE_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: accessLogFormat(props.serviceName),
      },
    });
    this.addPublicRoute(
      CALLBACK_ROUTE_KEY,
      new HttpLambdaIntegration('CallbackIntegration', props.callbackFunction),
      props.callbackThrottle,
    );
    const botTokenIntegration = new HttpLambdaIntegration('BotTokenIntegration', props.botTokenFunction);
    for (const routeKey of BOT_TOKEN_ROUTE_KEYS) this.addPublicRoute(routeKey, botTokenIntegration, props.callbackThrottle);
    const adminIntegration = new HttpLambdaIntegration('AdminIntegration', props.adminFunction);
    const iamAuthorizer = new HttpIamAuthorizer();
    // The integration is created under the first route that uses it: PUT first, as before
    // GET /users existed, so its logical id (and the deployed integration) stays.
    const adminRouteKeys = [...ADMIN_ROUTE_KEYS].sort((a, b) => Number(a === 'GET /users') - Number(b === 'GET /users'));
    const adminRoutes = adminRouteKeys.flatMap((routeKey) =>
      this.httpApi.addRoutes({ ...routeOf(routeKey), integration: adminIntegration, authorizer: iamAuthorizer }),
    );
    this.throttleRoutes(adminRoutes, ADMIN_THROTTLE);
    this.addThrottleMetricFilters();
  }

  /** The public routes' 429s from the access log (no per-route 4xx metric exists without detailed metrics). */
  private addThrottleMetricFilters(): void {
    new MetricFilter(this, 'CallbackThrottledFilter', {
      logGroup: this.accessLogs,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.routeKey', '=', CALLBACK_ROUTE_KEY),
        FilterPattern.stringValue('$.status', '=', '429'),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: ACCESS_LOG_METRIC.callbackThrottled,
      metricValue: '1',
      dimensions: { service: '$.service' },
    });
    new MetricFilter(this, 'BotTokenThrottledFilter', {
      logGroup: this.accessLogs,
      filterPattern: FilterPattern.all(
        FilterPattern.any(...BOT_TOKEN_ROUTE_KEYS.map((routeKey) => FilterPattern.stringValue('$.routeKey', '=', routeKey))),
        FilterPattern.stringValue('$.status', '=', '429'),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: ACCESS_LOG_METRIC.botTokenThrottled,
      metricValue: '1',
      dimensions: { service: '$.service' },
    });
  }

  /**
   * A route without gateway authorization (its function checks a signature), throttled on its
   * own so junk on it uses up its own budget.
   */
  addPublicRoute(routeKey: string, integration: HttpLambdaIntegration, limits: ThrottleLimits): HttpRoute[] {
    const routes = this.httpApi.addRoutes({ ...routeOf(routeKey), integration });
    this.throttleRoutes(routes, limits);
    for (const route of routes) {
      acknowledge(
        route,
        'AwsSolutions-APIG4',
        `${routeKey} is called by Recall, its bots or Zoom without AWS credentials; ` +
          "its function verifies the signature the request carries (the HMAC in the callback or bot-token URL, Zoom's x-zm-signature).",
      );
    }
    return routes;
  }

  /** 5xx answers of the whole API: the handlers' own 500s, and Lambda timeouts, crashes and throttles. */
  metricServerErrors(): Metric {
    return this.httpApi.metricServerError({ statistic: 'Sum' });
  }

  /** One of ACCESS_LOG_METRIC, with the `service` dimension its metric filter gives it. */
  accessLogMetric(name: (typeof ACCESS_LOG_METRIC)[keyof typeof ACCESS_LOG_METRIC]): Metric {
    return new Metric({ namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: { service: this.serviceName }, statistic: 'Sum' });
  }

  /** The API's default endpoint, `https://<id>.execute-api.<region>.amazonaws.com`. */
  get apiEndpoint(): string {
    return this.httpApi.apiEndpoint;
  }

  /**
   * What to grant `execute-api:Invoke` on for all the admin routes: `/users*`, so `GET /users`
   * (the list) too, which `/users/*` would miss.
   */
  get adminRoutesArn(): string {
    return this.httpApi.arnForExecuteApi('*', '/users*');
  }

  /** What to grant `execute-api:Invoke` on for one admin route (path parameters become `*`). */
  adminRouteArn(routeKey: AdminRouteKey): string {
    const { method, path } = splitRouteKey(routeKey);
    return this.httpApi.arnForExecuteApi(method, path.replace(/\{[^}]+\}/g, '*'));
  }

  /**
   * Per-route limits, so junk requests to the public callback route use up its own budget
   * instead of starving the admin API. HttpStage has no prop for route settings; the L1 takes
   * them as a map from route key to settings.
   */
  private throttleRoutes(routes: HttpRoute[], limits: ThrottleLimits): void {
    for (const route of routes) {
      this.routeThrottles[routeKeyOf(route)] = { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit };
    }
    (this.stage.node.defaultChild as CfnStage).routeSettings = { ...this.routeThrottles };
    // CloudFormation rejects route settings for routes that don't exist yet.
    this.stage.node.addDependency(...routes);
  }
}

function routeOf(routeKey: string): { path: string; methods: HttpMethod[] } {
  const { method, path } = splitRouteKey(routeKey);
  return { path, methods: [method as HttpMethod] };
}

/** The `METHOD /path` key API Gateway knows a route by. */
function routeKeyOf(route: HttpRoute): string {
  return (route.node.defaultChild as CfnRoute).routeKey;
}
