import { Duration, Stack } from 'aws-cdk-lib';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { EventBus, IEventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, FUNCTION_TIMEOUT_SECONDS, METRIC, ZOOM_EVENTS_ROUTE_KEY } from '../functions/contract';
import { ThrottleLimits, VaultApi } from './api';
import { VaultObservability } from './observability';
import { VaultSecrets } from './secrets';
import { VaultSettings } from './settings';
import { TokenStorage } from './storage';
import { TokenFunction } from './token-function';

/** Zoom's event notifications: a handful an hour per account, bursts when an account uninstalls. */
export const ZOOM_EVENTS_THROTTLE: ThrottleLimits = { rateLimit: 10, burstLimit: 20 };
/** The health check walks every registered user's Recall credential; five minutes per run at most. */
export const RECALL_HEALTH_TIMEOUT_SECONDS = 300;

export interface VaultLifecycleProps {
  readonly settings: Pick<VaultSettings, 'serviceName' | 'recallApiBaseUrl' | 'recallZoomOAuthAppId' | 'recallHealthIntervalMinutes'
    | 'zoomEventsRoute' | 'zoomWebhookSecretArn' | 'tracing'>;
  readonly storage: TokenStorage;
  readonly secrets: VaultSecrets;
  readonly api: VaultApi;
  readonly observability: VaultObservability;
  /**
   * Where the lifecycle events go: the account's default bus, a new bus of the vault's own, or
   * a bus you pass. @default 'default'
   */
  readonly eventBus?: 'default' | 'create' | IEventBus;
}

/**
 * The users' lifecycle beyond registration: lifecycle events on EventBridge for the app backend,
 * a scheduled health check of the users' Recall credentials, and (with `zoomEventsRoute`) the
 * public route Zoom posts its event notifications to (app deauthorized).
 */
export class VaultLifecycle extends Construct {
  readonly eventBus: IEventBus;
  readonly recallHealthFunction: TokenFunction;
  readonly recallHealthSchedule: Rule;
  /** Only with `zoomEventsRoute`. */
  readonly zoomEventsFunction?: TokenFunction;
  /** The Zoom app's webhook secret token (verifies Zoom's signatures); only with `zoomEventsRoute`. */
  readonly zoomWebhookSecret?: ISecret;

  constructor(scope: Construct, id: string, props: VaultLifecycleProps) {
    super(scope, id);
    const { settings, storage, secrets, observability } = props;
    this.eventBus = resolveEventBus(this, props.eventBus ?? 'default');
    const recallEnvironment = {
      [ENV.recallApiBaseUrl]: settings.recallApiBaseUrl,
      [ENV.recallApiKeySecretId]: secrets.recallApiKey.secretArn,
      [ENV.recallZoomOAuthAppId]: settings.recallZoomOAuthAppId,
    };

    this.recallHealthFunction = new TokenFunction(this, 'RecallHealthFunction', {
      serviceName: settings.serviceName,
      entry: 'recall-health',
      description: 'Checks the users\' Recall credentials and records (and announces) the unhealthy ones',
      timeout: Duration.seconds(RECALL_HEALTH_TIMEOUT_SECONDS),
      memorySize: 512,
      reservedConcurrentExecutions: undefined,
      tracing: settings.tracing,
      environment: { ...storage.tableEnvironment, ...recallEnvironment },
    });
    storage.grantRecallHealthCheck(this.recallHealthFunction);
    secrets.grantRead(this.recallHealthFunction, secrets.recallApiKey);
    this.grantPublish(this.recallHealthFunction);
    // A missed run is picked up by the next one.
    this.recallHealthFunction.configureAsyncInvoke({ retryAttempts: 0 });
    this.recallHealthSchedule = new Rule(this, 'RecallHealthSchedule', {
      description: 'Checks the users\' Recall credentials',
      schedule: Schedule.rate(Duration.minutes(settings.recallHealthIntervalMinutes)),
      targets: [new LambdaFunction(this.recallHealthFunction)],
    });
    observability.watchFunction(this.recallHealthFunction, 'RecallHealthFunction',
      'The Recall credential health check failed; unhealthy credentials go unnoticed until it runs again.');

    if (settings.zoomEventsRoute) {
      this.zoomWebhookSecret = secrets.importOrCreate(this, 'ZoomWebhookSecret', settings.zoomWebhookSecretArn,
        'Zoom app webhook secret token, verifies Zoom\'s event notifications (replace the generated placeholder after deploy)');
      this.zoomEventsFunction = new TokenFunction(this, 'ZoomEventsFunction', {
        serviceName: settings.serviceName,
        entry: 'zoom-events',
        description: 'Receives Zoom\'s event notifications (app deauthorized), verified by Zoom\'s signature',
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.admin),
        memorySize: 512,
        tracing: settings.tracing,
        environment: {
          ...storage.tableEnvironment,
          ...recallEnvironment,
          [ENV.zoomWebhookSecretTokenSecretId]: this.zoomWebhookSecret.secretArn,
        },
      });
      storage.grantZoomEvents(this.zoomEventsFunction);
      secrets.grantRead(this.zoomEventsFunction, secrets.recallApiKey, this.zoomWebhookSecret);
      this.grantPublish(this.zoomEventsFunction);
      props.api.addPublicRoute(ZOOM_EVENTS_ROUTE_KEY, new HttpLambdaIntegration('ZoomEventsIntegration', this.zoomEventsFunction),
        ZOOM_EVENTS_THROTTLE);
      observability.watchFunction(this.zoomEventsFunction, 'ZoomEventsFunction',
        'The Zoom events function failed or timed out; Zoom retries its notifications for a while.');
    }

    observability.alarmOnMetric({ id: 'EventsPublishFailedAlarm', kind: 'outcome', metricName: METRIC.eventsPublishFailed, threshold: 1,
      description: 'Lifecycle events could not be put on the event bus: the app backend missed them (see the functions\' logs).' });
    observability.alarmOnMetric({ id: 'RecallCredentialsUnhealthyAlarm', kind: 'outcome', metricName: METRIC.recallCredentialsUnhealthy,
      threshold: 1, description: 'Recall reports users\' Zoom credentials as unhealthy: their bots cannot join until they re-authorize.' });
  }

  /** Lets the functions put events on the lifecycle bus, and only there; tells them its name. */
  grantPublish(...functions: TokenFunction[]): void {
    for (const fn of functions) {
      fn.addEnvironment(ENV.eventBusName, this.eventBus.eventBusName);
      fn.addToRolePolicy(new PolicyStatement({
        sid: 'PublishLifecycleEvents',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
      }));
    }
  }
}

function resolveEventBus(scope: Construct, choice: 'default' | 'create' | IEventBus): IEventBus {
  if (choice === 'create') {
    return new EventBus(scope, 'EventBus', { description: `Zoom token vault lifecycle events (${Stack.of(scope).stackName})` });
  }
  if (choice === 'default') return EventBus.fromEventBusName(scope, 'DefaultEventBus', 'default');
  return choice;
}
