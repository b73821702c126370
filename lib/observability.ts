import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, IMetric, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { IFunction } from 'aws-cdk-lib/aws-lambda';
import { ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRIC, MetricName, METRICS_NAMESPACE } from '../functions/contract';

interface MetricAlarmSpec {
  readonly id: string;
  readonly metricName: MetricName;
  readonly description: string;
  /** Sum over one period that raises the alarm. */
  readonly threshold: number;
}

/**
 * The alarms on the handlers' own metrics. All functions publish GrantsDead,
 * RefreshResultUnsaved and ZoomMisconfigured; the refresher SweepErrors; the callback
 * one metric per answer it gives Recall.
 */
const METRIC_ALARMS: readonly MetricAlarmSpec[] = [
  { id: 'SweepErrorsAlarm', metricName: METRIC.sweepErrors, threshold: 1,
    description: 'The token refresher could not refresh some records; their tokens may expire unrefreshed.' },
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
];

/** The custom metrics (namespace METRICS_NAMESPACE) the alarms watch. */
export const ALARMED_METRICS: readonly MetricName[] = METRIC_ALARMS.map((spec) => spec.metricName);

const PERIOD = Duration.minutes(5);

export interface VaultObservabilityProps {
  /** The `service` dimension the handlers publish their metrics under. */
  readonly serviceName: string;
  readonly callbackFunction: IFunction;
  readonly refresherFunction: IFunction;
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

    const lambdaErrors = { period: PERIOD, statistic: 'Sum' };
    this.alarmOn('RefresherErrorsAlarm', props.refresherFunction.metricErrors(lambdaErrors),
      'The token refresher failed; tokens may expire unrefreshed.');
    // The handler answers its own failures with a 500 (counted in CallbackServerErrors); Lambda's
    // Errors count what it cannot answer for: timeouts and failed cold starts.
    this.alarmOn('CallbackFunctionErrorsAlarm', props.callbackFunction.metricErrors(lambdaErrors),
      'The Recall callback timed out or failed to start (configuration?); bots may fail to join Zoom meetings.');
    for (const spec of METRIC_ALARMS) {
      const metric = new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: spec.metricName,
        dimensionsMap: { service: props.serviceName },
        statistic: 'Sum',
        period: PERIOD,
      });
      this.alarmOn(spec.id, metric, spec.description, spec.threshold);
    }
  }

  private alarmOn(id: string, metric: IMetric, description: string, threshold = 1): void {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No data means nothing ran or nothing went wrong.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (this.alarmTopic) {
      alarm.addAlarmAction(new SnsAction(this.alarmTopic));
      alarm.addOkAction(new SnsAction(this.alarmTopic));
    }
    this.alarms.push(alarm);
  }
}
