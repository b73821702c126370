import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, FUNCTION_TIMEOUT_SECONDS, TIMING } from '../functions/contract';
import type { VaultSecrets } from './secrets';
import { dispatchMaxUsers, WORKER_BATCH_SIZE } from './settings';
import type { TokenStorage } from './storage';
import { TokenFunction } from './token-function';
import { acknowledge } from './nag';

/** A refresh message is redelivered this often before it is parked in the dead-letter queue. */
export const REFRESH_MAX_RECEIVE_COUNT = 5;
/** A refresh worker's timeout, in seconds (see TIMING.workerTimeoutMs). */
export const REFRESH_WORKER_TIMEOUT_SECONDS = TIMING.workerTimeoutMs / 1000;

const NEXT_RUN_REPLACES_IT =
  'A failed or missed dispatcher run is replaced by the next scheduled one (it keeps no state of its ' +
  'own); a run that keeps failing stops the OldestDueAgeSeconds heartbeat, which alarms (DueTokenLagAlarm).';

export interface RefreshFanOutProps {
  readonly serviceName: string;
  readonly storage: TokenStorage;
  /** The workers read the Zoom client secret from here. */
  readonly secrets: VaultSecrets;
  /** X-Ray tracing on the dispatcher and the workers. */
  readonly tracing: boolean;
  /** What the refresh workers need besides the storage's: the Zoom app and the refresh policy. */
  readonly zoomEnvironment: Record<string, string>;
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
  /** The dispatcher's reserved concurrency; 0 reserves nothing. */
  readonly reservedConcurrency: number;
  /** The SQS event source's maximum concurrency: refresh workers at once. */
  readonly workerConcurrency: number;
}

/**
 * Refreshing at scale with AWS's own fan-out: a scheduled dispatcher reads the due index (most
 * overdue first) and sends the due users to the refresh queue; refresh workers, an SQS event
 * source with a maximum concurrency, refresh each user under its lease. The callback and the
 * admin function send the users whose served token is close to expiry to the same queue.
 */
export class RefreshFanOut extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly dispatcherFunction: TokenFunction;
  readonly workerFunction: TokenFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: RefreshFanOutProps) {
    super(scope, id);
    const interval = Duration.minutes(props.refreshIntervalMinutes);
    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = this.createQueues());
    this.dispatcherFunction = this.createDispatcher(props, interval);
    this.workerFunction = this.createWorker(props);
    this.schedule = new Rule(this, 'RefreshSchedule', {
      description: 'Hands the Zoom tokens about to expire to the refresh workers',
      schedule: Schedule.rate(interval),
      targets: [new LambdaFunction(this.dispatcherFunction)],
    });
    acknowledge(this.schedule, 'Serverless-EventBusDLQ', NEXT_RUN_REPLACES_IT);
  }

  private createQueues(): { queue: Queue; deadLetterQueue: Queue } {
    // Messages that keep failing (a poison body, a user whose refresh errs every time) end up
    // here after REFRESH_MAX_RECEIVE_COUNT tries; its alarm tells an operator.
    const deadLetterQueue = new Queue(this, 'RefreshDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const queue = new Queue(this, 'RefreshQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's guidance for a Lambda event source: six times the function's timeout, so a batch
      // still being worked on (and its retries) is not delivered to a second worker.
      visibilityTimeout: Duration.seconds(6 * REFRESH_WORKER_TIMEOUT_SECONDS),
      // A due user not refreshed within a day is dispatched again anyway.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: REFRESH_MAX_RECEIVE_COUNT },
    });
    acknowledge(
      deadLetterQueue,
      'Serverless-SQSRedrivePolicy',
      "This is the refresh queue's dead-letter queue: the end of the line, watched by RefreshDeadLetterAlarm.",
    );
    return { queue, deadLetterQueue };
  }

  // Reserved concurrency 1 (the default): two dispatcher runs never hand out the same users
  // twice. 0 drops the reservation, for accounts whose quota can't spare one; the users'
  // leases still keep two workers from refreshing a token twice.
  // Timeout at most the interval, so a run is over before the next one is due.
  private createDispatcher(props: RefreshFanOutProps, interval: Duration): TokenFunction {
    const fn = new TokenFunction(this, 'DispatcherFunction', {
      serviceName: props.serviceName,
      entry: 'dispatcher',
      description: 'Hands the users whose Zoom tokens expire within the refresh window to the refresh workers',
      timeout: Duration.seconds(Math.min(FUNCTION_TIMEOUT_SECONDS.refresherMax, interval.toSeconds())),
      memorySize: 512,
      reservedConcurrentExecutions: props.reservedConcurrency || undefined,
      tracing: props.tracing,
      environment: {
        ...props.storage.tableEnvironment,
        [ENV.refreshWindowSeconds]: String(props.refreshWindowSeconds),
        [ENV.dispatchMaxUsers]: String(
          dispatchMaxUsers({
            refreshWorkerConcurrency: props.workerConcurrency,
            refreshIntervalMinutes: props.refreshIntervalMinutes,
          }),
        ),
        [ENV.refreshQueueUrl]: this.queue.queueUrl,
      },
    });
    props.storage.grantDispatch(fn);
    this.grantRequestRefresh(fn);
    // A missed or failed run is picked up by the next one; don't queue retries behind it.
    fn.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.seconds(Math.max(60, interval.toSeconds())),
    });
    acknowledge(fn, 'Serverless-LambdaDLQ', NEXT_RUN_REPLACES_IT);
    acknowledge(fn, 'Serverless-LambdaAsyncFailureDestination', NEXT_RUN_REPLACES_IT);
    return fn;
  }

  private createWorker(props: RefreshFanOutProps): TokenFunction {
    const fn = new TokenFunction(this, 'RefreshWorkerFunction', {
      serviceName: props.serviceName,
      entry: 'refresh-worker',
      description: 'Refreshes the Zoom tokens of the users on the refresh queue, each under its lease',
      timeout: Duration.seconds(REFRESH_WORKER_TIMEOUT_SECONDS),
      memorySize: 512,
      tracing: props.tracing,
      environment: {
        ...props.storage.environment,
        ...props.zoomEnvironment,
        [ENV.refreshWindowSeconds]: String(props.refreshWindowSeconds),
      },
    });
    props.storage.grantRefresh(fn);
    props.secrets.grantRead(fn, props.secrets.zoomClientSecret);
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: WORKER_BATCH_SIZE,
        // The handler reports the users to try again; the rest of the batch is done.
        reportBatchItemFailures: true,
        // The throttle on Zoom, DynamoDB and KMS: queued users wait rather than fan out further.
        maxConcurrency: props.workerConcurrency,
      }),
    );
    const redrivenBySqs =
      'Failed messages are redelivered by SQS and, after ' +
      `${REFRESH_MAX_RECEIVE_COUNT} deliveries, parked in the refresh dead-letter queue, which alarms.`;
    acknowledge(fn, 'Serverless-LambdaDLQ', `Invoked by its SQS event source only. ${redrivenBySqs}`);
    acknowledge(fn, 'Serverless-LambdaEventSourceMappingDestination', redrivenBySqs);
    return fn;
  }

  /** Lets `grantee` send users to the refresh queue (SendMessageBatch is authorized as sqs:SendMessage). */
  grantRequestRefresh(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RequestRefresh',
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
      }),
    );
  }
}
