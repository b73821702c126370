/**
 * The refresh worker (SQS event source mapping; the local queue runs it the same way): each
 * message names one user to refresh under its lease. Messages that should be tried again (Zoom
 * unavailable, an answer lost, an error) are reported as batch item failures, so SQS redelivers
 * them after the visibility timeout and, after several tries, moves them to the dead-letter
 * queue; the others in the batch are done.
 */
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type MetricName, TIMING } from '../contract';
import { parseRefreshRequest } from '../adapters/sqs-refresh-queue';
import type { RefreshOutcome } from '../domain/refresh';
import { refreshRequestedUser } from '../domain/refresh-work';
import { isValidUserId } from '../domain/signing';
import { ZoomThrottle } from '../domain/zoom-throttle';
import type { WorkerDeps } from './composition';
import { describe } from './http';
import { countMetric, withObservability } from './middleware';

/** The metric each outcome counts in. */
const OUTCOME_METRICS: Partial<Record<RefreshOutcome['kind'], MetricName>> = {
  refreshed: 'Refreshed',
  lease_held: 'SkippedLeaseHeld',
  retryable: 'FailedRetryable',
  grant_dead: 'GrantsDead',
  misconfigured: 'ZoomMisconfigured',
  unsaved: 'RefreshResultUnsaved',
  answer_lost: 'RefreshAnswerLost',
  lost_in_flight: 'RefreshLostInFlight',
};

/**
 * Outcomes worth another delivery: nothing was decided yet. (A held lease is another worker
 * refreshing the user: nothing for this message to do.)
 */
const TRY_AGAIN = new Set<RefreshOutcome['kind']>(['retryable', 'answer_lost']);

export function makeRefreshWorkerHandler(deps: WorkerDeps) {
  const { logger, metrics, clock } = deps;
  const throttle = new ZoomThrottle(clock);

  /** True when the message is done with (refreshed, fresh, dead, gone…); false to have it redelivered. */
  async function work(record: SQSRecord, deadline: number): Promise<boolean> {
    const request = parseRefreshRequest(record.body);
    if (!request || !isValidUserId(request.userId)) {
      // Redelivered until it lands in the dead-letter queue, whose alarm tells an operator.
      logger.error('unreadable refresh request', { messageId: record.messageId });
      return false;
    }
    if (throttle.remainingMs() > 0) {
      countMetric(metrics, 'ZoomThrottled');
      return false;
    }
    const outcome = await refreshRequestedUser(
      request.userId,
      { ...deps, deadline },
      {
        windowMs: deps.windowMs,
        served: request.reason !== 'due',
        ...(request.rejectedExpiresAt !== undefined ? { rejectedExpiresAt: request.rejectedExpiresAt } : {}),
      },
    );
    if (outcome.kind === 'retryable' && outcome.status === 429) {
      throttle.throttled(outcome.retryAfterMs);
      countMetric(metrics, 'ZoomThrottled');
    }
    const metric = OUTCOME_METRICS[outcome.kind];
    if (metric) countMetric(metrics, metric);
    return !TRY_AGAIN.has(outcome.kind);
  }

  async function handleBatch(event: SQSEvent, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SQSBatchResponse> {
    const deadline = clock() + context.getRemainingTimeInMillis() - TIMING.endReserveMs;
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        try {
          if (!(await work(record, deadline))) failures.push({ itemIdentifier: record.messageId });
        } catch (error) {
          countMetric(metrics, 'RefreshWorkerErrors');
          logger.error('refresh failed', { messageId: record.messageId, ...describe(error) });
          failures.push({ itemIdentifier: record.messageId });
        }
      }),
    );
    return { batchItemFailures: failures };
  }

  return withObservability(handleBatch, deps);
}
