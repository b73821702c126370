import { Duration, Stack } from 'aws-cdk-lib';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { EventBus, type IEventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, FUNCTION_TIMEOUT_SECONDS, ZOOM_EVENTS_ROUTE_KEY } from '../functions/contract';
import type { ThrottleLimits, VaultApi } from './api';
import { acknowledge } from './nag';
import { LIFECYCLE_ALARMS, type VaultObservability } from './observability';
import type { VaultSecrets } from './secrets';
import type { VaultSettings } from './settings';
import type { TokenStorage } from './storage';
import { TokenFunction } from './token-function';

/** Zoom's event notifications: a handful an hour per account, bursts when an account uninstalls. */
export const ZOOM_EVENTS_THROTTLE: ThrottleLimits = { rateLimit: 10, burstLimit: 20 };
/** The health check walks every registered user's Recall credential; five minutes per run at most. */
export const RECALL_HEALTH_TIMEOUT_SECONDS = 300;

export interface VaultLifecycleProps {
  readonly settings: Pick<
    VaultSettings,
    | 'serviceName'
    | 'recallApiBaseUrl'
    | 'recallZoomOAuthAppId'
    | 'recallHealthIntervalMinutes'
    | 'zoomEventsRoute'
    | 'zoomWebhookSecretArn'
    | 'zoomClientId'
    | 'tracing'
  >;
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
    const { settings, secrets, observability } = props;
    this.eventBus = resolveEventBus(this, props.eventBus ?? 'default');
    const recallEnvironment = {
      [ENV.recallApiBaseUrl]: settings.recallApiBaseUrl,
      [ENV.recallApiKeySecretId]: secrets.recallApiKey.secretArn,
      [ENV.recallZoomOAuthAppId]: settings.recallZoomOAuthAppId,
    };
    ({ fn: this.recallHealthFunction, schedule: this.recallHealthSchedule } = this.createRecallHealthCheck(props, recallEnvironment));
    if (settings.zoomEventsRoute) {
      ({ fn: this.zoomEventsFunction, secret: this.zoomWebhookSecret } = this.createZoomEventsRoute(props, recallEnvironment));
    }

    for (const spec of LIFECYCLE_ALARMS) observability.alarmOnMetric(spec);
  }

  private createRecallHealthCheck(
    props: VaultLifecycleProps,
    recallEnvironment: Record<string, string>,
  ): { fn: TokenFunction; schedule: Rule } {
    const { settings, storage, secrets, observability } = props;
    const fn = new TokenFunction(this, 'RecallHealthFunction', {
      serviceName: settings.serviceName,
      entry: 'recall-health',
      description: "Checks the users' Recall credentials and records (and announces) the unhealthy ones",
      timeout: Duration.seconds(RECALL_HEALTH_TIMEOUT_SECONDS),
      memorySize: 512,
      reservedConcurrentExecutions: undefined,
      tracing: settings.tracing,
      environment: { ...storage.tableEnvironment, ...recallEnvironment },
    });
    storage.grantRecallHealthCheck(fn);
    secrets.grantRead(fn, secrets.recallApiKey);
    this.grantPublish(fn);
    // A missed run is picked up by the next one.
    fn.configureAsyncInvoke({ retryAttempts: 0 });
    const schedule = new Rule(this, 'RecallHealthSchedule', {
      description: "Checks the users' Recall credentials",
      schedule: Schedule.rate(Duration.minutes(settings.recallHealthIntervalMinutes)),
      targets: [new LambdaFunction(fn)],
    });
    const nextRunReplacesIt =
      'A failed or missed health check is replaced by the next scheduled run: each run lists every unhealthy ' +
      'credential from Recall again and keeps no state of its own, so nothing waits in a queue (detailedAlarms alarms on its errors).';
    acknowledge(fn, 'Serverless-LambdaDLQ', nextRunReplacesIt);
    acknowledge(fn, 'Serverless-LambdaAsyncFailureDestination', nextRunReplacesIt);
    acknowledge(schedule, 'Serverless-EventBusDLQ', nextRunReplacesIt);
    observability.watchFunction(
      fn,
      'RecallHealthFunction',
      'The Recall credential health check failed; unhealthy credentials go unnoticed until it runs again.',
    );
    return { fn, schedule };
  }

  private createZoomEventsRoute(
    props: VaultLifecycleProps,
    recallEnvironment: Record<string, string>,
  ): { fn: TokenFunction; secret: ISecret } {
    const { settings, storage, secrets, observability } = props;
    const secret = secrets.importOrCreate(
      this,
      'ZoomWebhookSecret',
      settings.zoomWebhookSecretArn,
      "Zoom app webhook secret token, verifies Zoom's event notifications (replace the generated placeholder after deploy)",
    );
    const fn = new TokenFunction(this, 'ZoomEventsFunction', {
      serviceName: settings.serviceName,
      entry: 'zoom-events',
      description: "Receives Zoom's event notifications (app deauthorized), verified by Zoom's signature",
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.admin),
      memorySize: 512,
      tracing: settings.tracing,
      environment: {
        ...storage.tableEnvironment,
        ...recallEnvironment,
        [ENV.zoomWebhookSecretTokenSecretId]: secret.secretArn,
        // Deauthorizations naming another Zoom app are ignored; unset, every one is taken as ours.
        ...(settings.zoomClientId ? { [ENV.zoomClientId]: settings.zoomClientId } : {}),
      },
    });
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      "Invoked synchronously by the HTTP API only (Zoom's event notifications); a dead-letter " +
        'queue applies to asynchronous invocations, and Zoom itself retries a notification that was not answered 200.',
    );
    storage.grantZoomEvents(fn);
    secrets.grantRead(fn, secrets.recallApiKey, secret);
    this.grantPublish(fn);
    props.api.addPublicRoute(ZOOM_EVENTS_ROUTE_KEY, new HttpLambdaIntegration('ZoomEventsIntegration', fn), ZOOM_EVENTS_THROTTLE);
    observability.watchFunction(
      fn,
      'ZoomEventsFunction',
      'The Zoom events function failed or timed out; Zoom retries its notifications for a while.',
    );
    return { fn, secret };
  }

  /** Lets the functions put events on the lifecycle bus, and only there; tells them its name. */
  grantPublish(...functions: TokenFunction[]): void {
    for (const fn of functions) {
      fn.addEnvironment(ENV.eventBusName, this.eventBus.eventBusName);
      fn.addToRolePolicy(
        new PolicyStatement({
          sid: 'PublishLifecycleEvents',
          actions: ['events:PutEvents'],
          resources: [this.eventBus.eventBusArn],
        }),
      );
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
