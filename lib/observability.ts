import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  BOT_TOKEN_ALARMED_REASONS,
  BOT_TOKEN_FAILURE_REASONS,
  BOT_TOKEN_KINDS,
  BOT_TOKEN_METRIC_DIMENSION,
  METRIC,
  type MetricName,
  METRICS_NAMESPACE,
} from '../functions/contract';
import { ACCESS_LOG_METRIC, type VaultApi } from './api';
import { acknowledge } from './nag';
import { unrefreshedLifeLimitSeconds } from './settings';

/** How an alarm reads its metric; unset fields take the defaults below. */
export interface AlarmShape {
  readonly statistic?: 'Sum' | 'Maximum';
  /** 'interval': one dispatcher run per period (the dispatcher's metrics). @default 5 minutes */
  readonly period?: 'fixed' | 'interval';
  /** Value (of the statistic over one period) that raises the alarm. */
  readonly threshold: number;
  /** @default GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparison?: ComparisonOperator;
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /** @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /** @default NOT_BREACHING: no data means nothing ran or nothing went wrong */
  readonly treatMissingData?: TreatMissingData;
}

export interface MetricAlarmSpec extends AlarmShape {
  readonly id: string;
  readonly metricName: MetricName;
  readonly description: string;
  /**
   * 'outcome': something users notice, or a heartbeat (always on). 'cause': a specific reason,
   * already caught by an outcome alarm a little later (only with detailedAlarms).
   */
  readonly kind: 'outcome' | 'cause';
}

export interface AlarmSettings {
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
}

/**
 * The DueTokenLag threshold: a due token this old has less than the serve margin plus a minute
 * left, so it is about to reach the callback unrefreshed.
 */
export function oldestDueAgeThresholdSeconds(settings: AlarmSettings): number {
  return settings.refreshWindowSeconds - unrefreshedLifeLimitSeconds();
}

/**
 * The alarms on the handlers' own metrics: the workers publish the refresh outcomes, the
 * dispatcher Deferred and OldestDueAgeSeconds, the callback one metric per answer it gives Recall.
 */
export function metricAlarms(settings: AlarmSettings): MetricAlarmSpec[] {
  return [dueTokenLagAlarm(settings), ...FIXED_THRESHOLD_ALARMS];
}

/** The one handler alarm whose threshold follows the settings. */
function dueTokenLagAlarm(settings: AlarmSettings): MetricAlarmSpec {
  return {
    id: 'DueTokenLagAlarm',
    kind: 'outcome',
    metricName: METRIC.oldestDueAgeSeconds,
    statistic: 'Maximum',
    period: 'interval',
    threshold: oldestDueAgeThresholdSeconds(settings),
    comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    // The dispatcher publishes this on every run, zero included: two runs in three without it
    // mean the dispatcher is not running, failing, or its schedule is off (a heartbeat).
    treatMissingData: TreatMissingData.BREACHING,
    description:
      'Heartbeat and lag: due Zoom tokens are about to reach the callback unrefreshed (the refresh workers ' +
      'are behind or failing), or the dispatcher did not run in two of the last three intervals (no OldestDueAgeSeconds).',
  };
}

/** The handlers' alarms with fixed thresholds, after DueTokenLag in metricAlarms. */
const FIXED_THRESHOLD_ALARMS: readonly MetricAlarmSpec[] = [
  {
    id: 'CallbackTokenUnavailableAlarm',
    kind: 'outcome',
    metricName: METRIC.callbackTokenUnavailable,
    threshold: 5,
    description: 'The Recall callback repeatedly had no Zoom token to give (503); bots may fail to join Zoom meetings.',
  },
  {
    id: 'GrantsDeadAlarm',
    kind: 'outcome',
    metricName: METRIC.grantsDead,
    threshold: 1,
    description: 'Zoom rejected a refresh token: the affected users must authorize Zoom again.',
  },
  {
    id: 'RefreshResultUnsavedAlarm',
    kind: 'outcome',
    metricName: METRIC.refreshResultUnsaved,
    threshold: 1,
    description: "A refreshed Zoom token could not be saved; the user's grant may be lost.",
  },
  {
    id: 'ZoomMisconfiguredAlarm',
    kind: 'outcome',
    metricName: METRIC.zoomMisconfigured,
    threshold: 1,
    description: 'Zoom rejected the app credentials: the Zoom client id or client secret is wrong (or still the placeholder).',
  },
  {
    id: 'RefreshLostInFlightAlarm',
    kind: 'outcome',
    metricName: METRIC.refreshLostInFlight,
    threshold: 1,
    description: 'A refresh token was spent and its answer never reached storage: the user must authorize Zoom again.',
  },
  {
    id: 'FailedRetryableAlarm',
    kind: 'outcome',
    metricName: METRIC.failedRetryable,
    threshold: 10,
    evaluationPeriods: 3,
    description: 'Refreshes kept failing with retryable errors (Zoom down or throttling, DynamoDB or KMS errors) for 15 minutes.',
  },
  {
    id: 'DeferredAlarm',
    kind: 'outcome',
    metricName: METRIC.deferred,
    threshold: 1,
    period: 'interval',
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    description:
      'The dispatcher keeps holding due users back (DISPATCH_MAX_USERS or its timeout): the workers are behind; ' +
      'raise refreshWorkerConcurrency.',
  },
  {
    id: 'CallbackServerErrorsAlarm',
    kind: 'cause',
    metricName: METRIC.callbackServerErrors,
    threshold: 1,
    description: 'The Recall callback answered 500; bots may fail to join Zoom meetings.',
  },
  {
    id: 'RefreshAnswerLostAlarm',
    kind: 'cause',
    metricName: METRIC.refreshAnswerLost,
    threshold: 1,
    description: 'Zoom did not answer a refresh in time; the refresh token may be spent. Watch for RefreshLostInFlight.',
  },
  {
    id: 'RefreshWorkerErrorsAlarm',
    kind: 'cause',
    metricName: METRIC.refreshWorkerErrors,
    threshold: 1,
    description: 'A refresh worker failed on a user; the message is retried, then parked in the dead-letter queue.',
  },
  {
    id: 'ZoomThrottledAlarm',
    kind: 'cause',
    metricName: METRIC.zoomThrottled,
    threshold: 5,
    description: 'Zoom is rate-limiting token refreshes; lower refreshWorkerConcurrency or ask Zoom for a higher limit.',
  },
];

/** The alarms on the lifecycle's metrics (lib/lifecycle.ts adds them): events lost, Recall credentials unhealthy. */
export const LIFECYCLE_ALARMS: readonly MetricAlarmSpec[] = [
  {
    id: 'EventsPublishFailedAlarm',
    kind: 'outcome',
    metricName: METRIC.eventsPublishFailed,
    threshold: 1,
    description: "Lifecycle events could not be put on the event bus: the app backend missed them (see the functions' logs).",
  },
  {
    id: 'RecallCredentialsUnhealthyAlarm',
    kind: 'outcome',
    metricName: METRIC.recallCredentialsUnhealthy,
    threshold: 1,
    description: "Recall reports users' Zoom credentials as unhealthy: their bots cannot join until they re-authorize.",
  },
];

/** With Recall's request signature checked (lib/settings.ts recallSignatureMode): requests without it, refused or reported. */
export const RECALL_SIGNATURE_ALARM: MetricAlarmSpec = {
  id: 'RecallSignatureFailuresAlarm',
  kind: 'outcome',
  metricName: METRIC.recallSignatureFailures,
  threshold: 1,
  description:
    "A callback or bot-token URL was called without Recall's valid signature (RecallSignatureFailures). Enforced: refused, so " +
    'someone other than Recall holds the URL, or the verification secret is wrong, still the placeholder or rotated at Recall ' +
    "alone. Reported: enforcing would refuse it. The functions' 'no valid Recall signature' log lines name the user and the problem.",
};

/** Every custom metric (namespace METRICS_NAMESPACE) an alarm may watch, detailed alarms and the lifecycle's included. */
export const ALARMED_METRICS: readonly MetricName[] = [
  ...metricAlarms({ refreshIntervalMinutes: 5, refreshWindowSeconds: 900 }),
  ...LIFECYCLE_ALARMS,
  RECALL_SIGNATURE_ALARM,
].map((spec) => spec.metricName);

const PERIOD = Duration.minutes(5);

/** The vault's functions, by the name their alarms and dashboard rows carry. */
export interface WatchedFunctions {
  readonly callback: IFunction;
  readonly botToken: IFunction;
  readonly admin: IFunction;
  readonly dispatcher: IFunction;
  readonly refreshWorker: IFunction;
}

export interface VaultObservabilityProps extends AlarmSettings {
  /** The `service` dimension the handlers publish their metrics under. */
  readonly serviceName: string;
  readonly functions: WatchedFunctions;
  readonly api: VaultApi;
  readonly refreshDeadLetterQueue: IQueue;
  /** @default - no e-mail */
  readonly alarmEmail?: string;
  /** An existing SNS topic the alarms notify. @default - none */
  readonly alarmTopicArn?: string;
  /** Cause alarms too: per-function Errors and Throttles, and the specific handler metrics. @default false */
  readonly detailedAlarms?: boolean;
  /** @default false */
  readonly dashboard?: boolean;
  /** Recall's request signature is checked: its alarm, and its line on the dashboard. @default false */
  readonly recallSignatures?: boolean;
}

/**
 * Alarms on everything that needs an operator, notified through a new e-mail topic and/or an
 * existing topic; optionally a dashboard.
 *
 * By default only outcome alarms: the ones that cannot stay green while something users depend
 * on is broken (the API's 5xx and the callback's 429s and 503s, refreshes lagging or the
 * dispatcher not running, grants lost, refreshes failing, the dead-letter queue). With
 * `detailedAlarms` every function's Lambda Errors and Throttles, and the handlers' specific
 * failure metrics, alarm as well.
 */
export class VaultObservability extends Construct {
  /** The topic `alarmEmail` subscribes to; only when an address is given. */
  readonly alarmTopic?: ITopic;
  /** Every topic the alarms notify (the created one, the imported one). */
  readonly alarmTopics: ITopic[] = [];
  readonly alarms: Alarm[] = [];
  readonly dashboard?: Dashboard;
  private readonly serviceName: string;
  private readonly detailedAlarms: boolean;
  private readonly interval: Duration;

  constructor(scope: Construct, id: string, props: VaultObservabilityProps) {
    super(scope, id);
    this.serviceName = props.serviceName;
    this.detailedAlarms = props.detailedAlarms ?? false;
    this.interval = Duration.minutes(props.refreshIntervalMinutes);
    // Topics first: alarmOn gives every alarm an action per topic known when it is created.
    this.alarmTopic = this.addAlarmTopics(props);
    this.alarmOnApiAndQueue(props);
    for (const spec of metricAlarms(props)) this.alarmOnMetric(spec);
    this.alarmOnBotTokenFailures(props.api);
    if (props.recallSignatures) this.alarmOnMetric(RECALL_SIGNATURE_ALARM);
    this.watchFunctions(props.functions);
    if (props.dashboard) this.dashboard = this.createDashboard(props);
  }

  /** The topics the alarms notify; returns the e-mail topic when one is created. */
  private addAlarmTopics(props: VaultObservabilityProps): Topic | undefined {
    const emailTopic = props.alarmEmail ? this.createAlarmTopic(props.alarmEmail) : undefined;
    if (emailTopic) this.alarmTopics.push(emailTopic);
    if (props.alarmTopicArn) {
      this.alarmTopics.push(Topic.fromTopicArn(this, 'ImportedAlarmTopic', props.alarmTopicArn));
    }
    if (this.alarmTopics.length === 0) {
      Annotations.of(this).addWarningV2(
        'zoom-token-vault:alarmsNotifyNobody',
        'The alarms notify nobody: set alarmEmail (-c alarmEmail=ops@example.com) or alarmTopicArn (an existing SNS topic).',
      );
    }
    return emailTopic;
  }

  /** The outcome alarms on AWS metrics: the API's 5xx, the callback's throttle, the dead-letter queue. */
  private alarmOnApiAndQueue(props: VaultObservabilityProps): void {
    this.alarmOn(
      'ApiServerErrorsAlarm',
      props.api.metricServerErrors().with({ period: PERIOD }),
      'The HTTP API answered 5xx: the callback or admin function failed, timed out or was throttled, or the admin ' +
        'API could not reach Recall (502) or Zoom (503). Bots may fail to join meetings; registrations may fail.',
      { threshold: 1 },
    );
    this.alarmOn(
      'CallbackThrottledAlarm',
      props.api.accessLogMetric(ACCESS_LOG_METRIC.callbackThrottled).with({ period: PERIOD }),
      'The callback route answered 429 (its throttle): Recall got no token. Raise callbackThrottleRate/Burst, or look for junk traffic.',
      { threshold: 1 },
    );
    this.alarmOn(
      'RefreshDeadLetterAlarm',
      props.refreshDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
      'Refresh requests failed every delivery and were parked in the dead-letter queue; those users may go unrefreshed.',
      { threshold: 1 },
    );
  }

  /**
   * Bots that got no token for a reason an operator must act on (BotTokenErrors: Zoom or the
   * vault failing, the Zoom app lacking a scope), or turned away by the routes' throttle. A
   * math alarm is billed per metric it reads: two.
   */
  private alarmOnBotTokenFailures(api: VaultApi): void {
    const usingMetrics: Record<string, IMetric> = {
      errors: this.metric(METRIC.botTokenErrors),
      throttled: api.accessLogMetric(ACCESS_LOG_METRIC.botTokenThrottled),
    };
    this.alarmOn(
      'BotTokenFailuresAlarm',
      new MathExpression({ expression: 'FILL(errors, 0) + FILL(throttled, 0)', usingMetrics, period: PERIOD, label: 'Bot-token failures' }),
      `Recall's bots repeatedly got no OBF token, ZAK or join token (${BOT_TOKEN_ALARMED_REASONS.join(', ')}, or the routes' throttle): ` +
        'bots may fail to join Zoom meetings. BotTokenFailures (dimension reason) tells which; scope_missing means the Zoom app lacks a scope.',
      { threshold: 5 },
    );
  }

  private watchFunctions(functions: WatchedFunctions): void {
    // Ids of the alarms from before (their logical ids stay when detailed alarms are on).
    this.watchFunction(
      functions.callback,
      'CallbackFunction',
      'The Recall callback timed out or failed to start (configuration?); bots may fail to join Zoom meetings.',
    );
    this.watchFunction(
      functions.botToken,
      'BotTokenFunction',
      'The bot-token function timed out or failed to start (configuration?); bots may fail to join Zoom meetings.',
    );
    this.watchFunction(functions.admin, 'AdminFunction', 'The admin function timed out or failed to start (configuration?).');
    this.watchFunction(
      functions.dispatcher,
      'Dispatcher',
      'The refresh dispatcher failed; due tokens may not be handed to the refresh workers.',
    );
    this.watchFunction(
      functions.refreshWorker,
      'RefreshWorkerFunction',
      'A refresh worker timed out or failed to start (configuration?); its batch is retried.',
    );
  }

  /** An alarm on one of the handlers' metrics (outcome alarms always, cause alarms with detailedAlarms). */
  alarmOnMetric(spec: MetricAlarmSpec): Alarm | undefined {
    if (spec.kind === 'cause' && !this.detailedAlarms) return undefined;
    return this.alarmOn(
      spec.id,
      this.metric(spec.metricName, spec.statistic ?? 'Sum', spec.period === 'interval' ? this.interval : PERIOD),
      spec.description,
      spec,
    );
  }

  /** With detailedAlarms: alarms on the function's Lambda Errors and Throttles. */
  watchFunction(fn: IFunction, name: string, errorsDescription: string): void {
    if (!this.detailedAlarms) return;
    const sum = { period: PERIOD, statistic: 'Sum' };
    this.alarmOn(`${name}ErrorsAlarm`, fn.metricErrors(sum), errorsDescription, { threshold: 1 });
    this.alarmOn(
      `${name}ThrottlesAlarm`,
      fn.metricThrottles(sum),
      `Lambda throttled ${name}: the account's (or its reserved) concurrency is used up.`,
      { threshold: 1 },
    );
  }

  /** One of the handlers' metrics, under the vault's `service` dimension (and `dimensions`, for the bot-token metrics). */
  metric(metricName: MetricName, statistic = 'Sum', period = PERIOD, dimensions: Record<string, string> = {}): Metric {
    const dimensionsMap = { service: this.serviceName, ...dimensions };
    return new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap, statistic, period });
  }

  private alarmOn(id: string, metric: IMetric, description: string, shape: AlarmShape): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold: shape.threshold,
      comparisonOperator: shape.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: shape.evaluationPeriods ?? 1,
      datapointsToAlarm: shape.datapointsToAlarm,
      treatMissingData: shape.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    for (const topic of this.alarmTopics) {
      alarm.addAlarmAction(new SnsAction(topic));
      alarm.addOkAction(new SnsAction(topic));
    }
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * TLS only, and encrypted with a key of its own: CloudWatch cannot publish to a topic under the
   * AWS-managed aws/sns key (its policy cannot name CloudWatch), so notifications would be lost.
   */
  private createAlarmTopic(email: string): Topic {
    const key = new Key(this, 'AlarmTopicKey', {
      description: `Encrypts the alarm notifications of ${Stack.of(this).stackName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchPublishesAlarms',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    const topic = new Topic(this, 'AlarmTopic', {
      displayName: `${Stack.of(this).stackName} alarms`,
      enforceSSL: true,
      masterKey: key,
    });
    const subscription = topic.addSubscription(new EmailSubscription(email));
    acknowledge(
      subscription,
      'Serverless-SNSRedrivePolicy',
      'An e-mail subscription: a notification SNS cannot deliver ' +
        'leaves the alarm in its state in CloudWatch, where the console and the dashboard show it.',
    );
    return topic;
  }

  /** Rows of graphs: the callback, the refreshes, then the lifecycle and every function's Lambda metrics. */
  private createDashboard(props: VaultObservabilityProps): Dashboard {
    const dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(24) });
    dashboard.addWidgets(
      new TextWidget({
        markdown: `# Zoom token vault \`${this.serviceName}\`\nNamespace \`${METRICS_NAMESPACE}\`, dimension \`service\`.`,
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(...this.callbackRow(props));
    dashboard.addWidgets(...this.botTokenRow(props));
    dashboard.addWidgets(...this.refreshRow());
    dashboard.addWidgets(...this.lifecycleAndLambdaRow(props.functions));
    return dashboard;
  }

  private callbackRow(props: VaultObservabilityProps): GraphWidget[] {
    const { functions } = props;
    return [
      graph('Callback answers', [
        ...this.metrics([
          METRIC.callbackServed,
          METRIC.callbackRefused,
          METRIC.callbackTokenUnavailable,
          METRIC.callbackServerErrors,
          METRIC.callbackWaitedForRefresh,
          ...(props.recallSignatures ? [METRIC.recallSignatureFailures] : []),
        ]),
        props.api.accessLogMetric(ACCESS_LOG_METRIC.callbackThrottled).with({ label: 'CallbackThrottled (429)' }),
      ]),
      graph('Callback latency (Lambda duration)', [
        functions.callback.metricDuration({ statistic: 'p50', label: 'p50' }),
        functions.callback.metricDuration({ statistic: 'p99', label: 'p99' }),
      ]),
      graph('API 5xx and admin errors', [
        props.api.metricServerErrors().with({ label: 'API 5xx' }),
        functions.admin.metricErrors({ statistic: 'Sum', label: 'Admin function errors' }),
      ]),
    ];
  }

  /** Tokens minted by kind, requests without a token by reason, the function's latency. */
  private botTokenRow(props: VaultObservabilityProps): GraphWidget[] {
    const byDimension = (name: MetricName, dimension: string, values: readonly string[]) =>
      values.map((value) => this.metric(name, 'Sum', PERIOD, { [dimension]: value }).with({ label: `${name} ${value}` }));
    return [
      graph('Bot tokens minted (by kind)', byDimension(METRIC.botTokensMinted, BOT_TOKEN_METRIC_DIMENSION.minted, BOT_TOKEN_KINDS)),
      graph('Bot-token requests without a token (by reason)', [
        ...byDimension(METRIC.botTokenFailures, BOT_TOKEN_METRIC_DIMENSION.failed, BOT_TOKEN_FAILURE_REASONS),
        props.api.accessLogMetric(ACCESS_LOG_METRIC.botTokenThrottled).with({ label: 'BotTokenThrottled (429)' }),
      ]),
      graph('Bot-token latency (Lambda duration)', [
        props.functions.botToken.metricDuration({ statistic: 'p50', label: 'p50' }),
        props.functions.botToken.metricDuration({ statistic: 'p99', label: 'p99' }),
      ]),
    ];
  }

  private refreshRow(): GraphWidget[] {
    return [
      graph(
        'Refresh outcomes',
        this.metrics([
          METRIC.refreshed,
          METRIC.failedRetryable,
          METRIC.grantsDead,
          METRIC.refreshAnswerLost,
          METRIC.refreshLostInFlight,
          METRIC.refreshResultUnsaved,
          METRIC.skippedLeaseHeld,
          METRIC.refreshWorkerErrors,
        ]),
      ),
      new GraphWidget({
        title: 'Due-token lag',
        left: this.metrics([METRIC.usersDue, METRIC.dispatched, METRIC.deferred]),
        right: [this.metric(METRIC.oldestDueAgeSeconds, 'Maximum')],
        width: 8,
        height: 6,
      }),
      graph(
        'Zoom and Recall',
        this.metrics([METRIC.zoomMisconfigured, METRIC.zoomThrottled, METRIC.recallCredentialsUnhealthy, METRIC.zoomDeauthorized]),
      ),
    ];
  }

  private lifecycleAndLambdaRow(functions: WatchedFunctions): GraphWidget[] {
    const throttles = Object.entries(functions).map(([name, fn]) => fn.metricThrottles({ statistic: 'Sum', label: name }));
    // One line: the sum of every function's Errors.
    const errors = new MathExpression({
      expression: Object.keys(functions)
        .map((_, i) => `e${i}`)
        .join(' + '),
      usingMetrics: Object.fromEntries(Object.values(functions).map((fn, i) => [`e${i}`, fn.metricErrors({ statistic: 'Sum' })])),
      label: 'Errors',
      period: PERIOD,
    });
    return [
      graph('Lifecycle events', this.metrics([METRIC.eventsPublished, METRIC.eventsPublishFailed])),
      graph('Lambda throttles', throttles),
      graph('Lambda errors (all functions)', [errors]),
    ];
  }

  /** Sums over 5 minutes of the handlers' metrics, one line each. */
  private metrics(names: MetricName[]): Metric[] {
    return names.map((name) => this.metric(name));
  }
}

function graph(title: string, left: IMetric[], width = 8): GraphWidget {
  return new GraphWidget({ title, left, width, height: 6 });
}
