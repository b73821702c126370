import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, FUNCTION_TIMEOUT_SECONDS } from '../functions/contract';
import { grantReadSecrets } from './secrets';
import { TokenStorage } from './storage';
import { TokenFunction } from './token-function';

export interface RefreshFanOutProps {
  readonly serviceName: string;
  readonly storage: TokenStorage;
  readonly zoomClientSecret: ISecret;
  /** Environment every function shares (storage, Zoom app). */
  readonly environment: Record<string, string>;
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
  /** 0 reserves nothing. */
  readonly reservedConcurrency: number;
}

/**
 * The scheduled sweep that renews tokens before they expire. Today one refresher function
 * invoked on a schedule.
 */
export class RefreshFanOut extends Construct {
  readonly refresherFunction: TokenFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: RefreshFanOutProps) {
    super(scope, id);
    const interval = Duration.minutes(props.refreshIntervalMinutes);

    // Reserved concurrency 1 (the default): two sweeps never race each other over the
    // same records. 0 drops the reservation, for accounts whose quota can't spare one;
    // the records' leases still keep overlapping sweeps from refreshing a token twice.
    // Timeout at most the interval, so a sweep is over before the next one is due.
    this.refresherFunction = new TokenFunction(this, 'RefresherFunction', {
      serviceName: props.serviceName,
      entry: 'refresher',
      description: 'Refreshes Zoom tokens that expire within the refresh window',
      timeout: Duration.seconds(Math.min(FUNCTION_TIMEOUT_SECONDS.refresherMax, interval.toSeconds())),
      memorySize: 512,
      reservedConcurrentExecutions: props.reservedConcurrency || undefined,
      environment: {
        ...props.environment,
        [ENV.refreshWindowSeconds]: String(props.refreshWindowSeconds),
      },
    });
    props.storage.grantRefresh(this.refresherFunction);
    grantReadSecrets(this.refresherFunction, props.zoomClientSecret);
    // A missed or failed sweep is picked up by the next one; don't queue retries behind it.
    this.refresherFunction.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.seconds(Math.max(60, interval.toSeconds())),
    });

    this.schedule = new Rule(this, 'RefreshSchedule', {
      description: 'Sweeps for Zoom tokens about to expire',
      schedule: Schedule.rate(interval),
      targets: [new LambdaFunction(this.refresherFunction)],
    });
  }
}
