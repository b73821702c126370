import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, IMetric, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { IFunction } from 'aws-cdk-lib/aws-lambda';
import { ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, MetricName, METRICS_NAMESPACE } from '../functions/contract';
import { unrefreshedLifeLimitSeconds } from './settings';

/** How an alarm reads its metric; unset fields take ALARM_DEFAULTS. */
interface AlarmShape {
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

interface MetricAlarmSpec extends AlarmShape {
  readonly id: string;
  readonly metricName: MetricName;
  readonly description: string;
}

export interface AlarmSettings {
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
}

/**
 * The OldestDueAgeSeconds threshold: a due token this old has less than the serve margin plus a
 * minute left, so it is about to reach the callback unrefreshed.
 */
export function oldestDueAgeThresholdSeconds(settings: AlarmSettings): number {
  return settings.refreshWindowSeconds - unrefreshedLifeLimitSeconds();
}

/**
 * The alarms on the handlers' own metrics: the workers publish the refresh outcomes, the
 * dispatcher Deferred and OldestDueAgeSeconds, the callback one metric per answer it gives Recall.
 */
function metricAlarms(settings: AlarmSettings): MetricAlarmSpec[] {
  return [
    { id: 'CallbackServerErrorsAlarm', metricName: METRIC.callbackServerErrors, threshold: 1,
      description: 'The Recall callback answered 500; bots may fail to join Zoom meetings.' },
    { id: 'CallbackTokenUnavailableAlarm', metricName: METRIC.callbackTokenUnavailable, threshold: 5,
      description: 'The Recall callback repeatedly had no Zoom token to give (503); bots may fail to join Zoom meetings.' },
    { id: 'GrantsDeadAlarm', metricName: METRIC.grantsDead, threshold: 1,
      description: 'Zoom rejected a refresh token: the affected users must authorize Zoom again.' },
    { id: 'RefreshResultUnsavedAlarm', metricName: METRIC.refreshResultUnsaved, threshold: 1,
      description: 'A refreshed Zoom token could not be saved; the user\'s grant may be lost.' },
    { id: 'ZoomMisconfiguredAlarm', metricName: METRIC.zoomMisconfigured, threshold: 1,
      description: 'Zoom rejected the app credentials: the Zoom client id or client secret is wrong (or still the placeholder).' },
    { id: 'RefreshLostInFlightAlarm', metricName: METRIC.refreshLostInFlight, threshold: 1,
      description: 'A refresh token was spent and its answer never reached storage: the user must authorize Zoom again.' },
    { id: 'RefreshAnswerLostAlarm', metricName: METRIC.refreshAnswerLost, threshold: 1,
      description: 'Zoom did not answer a refresh in time; the refresh token may be spent. Watch for RefreshLostInFlight.' },
    { id: 'RefreshWorkerErrorsAlarm', metricName: METRIC.refreshWorkerErrors, threshold: 1,
      description: 'A refresh worker failed on a user; the message is retried, then parked in the dead-letter queue.' },
    { id: 'ZoomThrottledAlarm', metricName: METRIC.zoomThrottled, threshold: 5,
      description: 'Zoom is rate-limiting token refreshes; lower refreshWorkerConcurrency or ask Zoom for a higher limit.' },
    { id: 'DeferredAlarm', metricName: METRIC.deferred, threshold: 1, period: 'interval', evaluationPeriods: 3, datapointsToAlarm: 2,
      description: 'The dispatcher keeps holding due users back (DISPATCH_MAX_USERS or its timeout): the workers are behind; '
        + 'raise refreshWorkerConcurrency.' },
    {
      id: 'OldestDueAgeAlarm',
      metricName: METRIC.oldestDueAgeSeconds,
      statistic: 'Maximum',
      period: 'interval',
      threshold: oldestDueAgeThresholdSeconds(settings),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      // The dispatcher publishes this on every run: no data means it stopped running (a heartbeat).
      treatMissingData: TreatMissingData.BREACHING,
      description: 'Due Zoom tokens are about to reach the callback unrefreshed, or the dispatcher stopped running '
        + '(no OldestDueAgeSeconds data).',
    },
  ];
}

/** The custom metrics (namespace METRICS_NAMESPACE) the alarms watch. */
export const ALARMED_METRICS: readonly MetricName[] = metricAlarms({ refreshIntervalMinutes: 5, refreshWindowSeconds: 900 })
  .map((spec) => spec.metricName);

const PERIOD = Duration.minutes(5);

export interface VaultObservabilityProps extends AlarmSettings {
  /** The `service` dimension the handlers publish their metrics under. */
  readonly serviceName: string;
  readonly callbackFunction: IFunction;
  readonly dispatcherFunction: IFunction;
  readonly refreshWorkerFunction: IFunction;
  readonly refreshDeadLetterQueue: IQueue;
  /** @default - alarms without notifications */
  readonly alarmEmail?: string;
}

/** Alarms on everything that needs an operator, e-mailed when an address is given. */
export class VaultObservability extends Construct {
  /** Where alarm state changes go; only when an e-mail address is given. */
  readonly alarmTopic?: ITopic;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: VaultObservabilityProps) {
    super(scope, id);
    if (props.alarmEmail) {
      const topic = new Topic(this, 'AlarmTopic', { displayName: `${Stack.of(this).stackName} alarms` });
      topic.addSubscription(new EmailSubscription(props.alarmEmail));
      this.alarmTopic = topic;
    }
    const interval = Duration.minutes(props.refreshIntervalMinutes);

    const lambdaErrors = { period: PERIOD, statistic: 'Sum' };
    this.alarmOn('DispatcherErrorsAlarm', props.dispatcherFunction.metricErrors(lambdaErrors),
      'The refresh dispatcher failed; due tokens may not be handed to the refresh workers.', { threshold: 1 });
    this.alarmOn('RefreshWorkerFunctionErrorsAlarm', props.refreshWorkerFunction.metricErrors(lambdaErrors),
      'A refresh worker timed out or failed to start (configuration?); its batch is retried.', { threshold: 1 });
    // The handler answers its own failures with a 500 (counted in CallbackServerErrors); Lambda's
    // Errors count what it cannot answer for: timeouts and failed cold starts.
    this.alarmOn('CallbackFunctionErrorsAlarm', props.callbackFunction.metricErrors(lambdaErrors),
      'The Recall callback timed out or failed to start (configuration?); bots may fail to join Zoom meetings.', { threshold: 1 });
    this.alarmOn('RefreshDeadLetterAlarm',
      props.refreshDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
      'Refresh requests failed every delivery and were parked in the dead-letter queue; those users may go unrefreshed.',
      { threshold: 1 });
    for (const spec of metricAlarms(props)) {
      const metric = new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: spec.metricName,
        dimensionsMap: { service: props.serviceName },
        statistic: spec.statistic ?? 'Sum',
        period: spec.period === 'interval' ? interval : PERIOD,
      });
      this.alarmOn(spec.id, metric, spec.description, spec);
    }
  }

  private alarmOn(id: string, metric: IMetric, description: string, shape: AlarmShape): void {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold: shape.threshold,
      comparisonOperator: shape.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: shape.evaluationPeriods ?? 1,
      datapointsToAlarm: shape.datapointsToAlarm,
      treatMissingData: shape.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    if (this.alarmTopic) {
      alarm.addAlarmAction(new SnsAction(this.alarmTopic));
      alarm.addOkAction(new SnsAction(this.alarmTopic));
    }
    this.alarms.push(alarm);
  }
}
