import { Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnRoute, CfnStage, HttpApi, HttpMethod, HttpRoute, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ADMIN_ROUTE_KEYS, CALLBACK_ROUTE_KEY, splitRouteKey } from '../functions/contract';

export interface ThrottleLimits {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** Per-route throttling of the admin routes, apart from the public callback route's. */
export const ADMIN_THROTTLE: ThrottleLimits = { rateLimit: 10, burstLimit: 20 };
/** The stage's own limits: routes without limits of their own (none today) fall back to these. */
export const STAGE_THROTTLE: ThrottleLimits = { rateLimit: 50, burstLimit: 100 };

/** Route key, not path + query string: the query carries the URL signature. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(JSON.stringify({
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  userArn: '$context.identity.userArn',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationError: '$context.integrationErrorMessage',
}));

export interface VaultApiProps {
  /** Answers the public callback route Recall calls. */
  readonly callbackFunction: IFunction;
  /** Answers the IAM-authorized admin routes. */
  readonly adminFunction: IFunction;
  /** Limits of the public callback route. */
  readonly callbackThrottle: ThrottleLimits;
}

/**
 * The HTTP API: the public callback route (authorized by the HMAC signature in its URL) and the
 * admin routes behind IAM, each throttled on its own, with access logs that leave out signatures.
 */
export class VaultApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: VaultApiProps) {
    super(scope, id);
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: `Zoom token vault (${Stack.of(this).stackName})`,
      // Created below, to set throttling and access logs on it.
      createDefaultStage: false,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: STAGE_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(new LogGroup(this, 'ApiAccessLogs', {
          retention: RetentionDays.ONE_MONTH,
        })),
        format: ACCESS_LOG_FORMAT,
      },
    });
    const callbackRoutes = this.httpApi.addRoutes({
      ...routeOf(CALLBACK_ROUTE_KEY),
      integration: new HttpLambdaIntegration('CallbackIntegration', props.callbackFunction),
    });
    const adminIntegration = new HttpLambdaIntegration('AdminIntegration', props.adminFunction);
    const iamAuthorizer = new HttpIamAuthorizer();
    const adminRoutes = ADMIN_ROUTE_KEYS.flatMap((routeKey) =>
      this.httpApi.addRoutes({ ...routeOf(routeKey), integration: adminIntegration, authorizer: iamAuthorizer }),
    );
    this.throttleRoutes([[callbackRoutes, props.callbackThrottle], [adminRoutes, ADMIN_THROTTLE]]);
  }

  /** The API's default endpoint, `https://<id>.execute-api.<region>.amazonaws.com`. */
  get apiEndpoint(): string {
    return this.httpApi.apiEndpoint;
  }

  /** What to grant `execute-api:Invoke` on for the admin routes. */
  get adminRoutesArn(): string {
    return this.httpApi.arnForExecuteApi('*', '/users/*');
  }

  /**
   * Per-route limits, so junk requests to the public callback route use up its own budget
   * instead of starving the admin API. HttpStage has no prop for route settings; the L1 takes
   * them as a map from route key to settings.
   */
  private throttleRoutes(limitsByRoutes: Array<[HttpRoute[], ThrottleLimits]>): void {
    (this.stage.node.defaultChild as CfnStage).routeSettings = Object.fromEntries(
      limitsByRoutes.flatMap(([routes, limits]) => routes.map((route) => [routeKeyOf(route), {
        ThrottlingRateLimit: limits.rateLimit,
        ThrottlingBurstLimit: limits.burstLimit,
      }])),
    );
    // CloudFormation rejects route settings for routes that don't exist yet.
    this.stage.node.addDependency(...limitsByRoutes.flatMap(([routes]) => routes));
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
