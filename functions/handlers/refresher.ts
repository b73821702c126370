/**
 * The scheduled refresher (EventBridge, every few minutes): one sweep over the due users, a
 * summary log line and CloudWatch metrics (EMF) for each count.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { type MetricName, TIMING } from '../contract';
import { sweepDueUsers, type SweepSummary } from '../domain/sweep';
import type { RefresherDeps } from './composition';
import { countMetric, withObservability } from './middleware';

const SUMMARY_METRICS: Array<[keyof SweepSummary, MetricName]> = [
  ['due', 'UsersDue'],
  ['refreshed', 'Refreshed'],
  ['skippedLeaseHeld', 'SkippedLeaseHeld'],
  ['failedRetryable', 'FailedRetryable'],
  ['grantsDead', 'GrantsDead'],
  ['misconfigured', 'ZoomMisconfigured'],
  ['unsaved', 'RefreshResultUnsaved'],
  ['errors', 'SweepErrors'],
  ['deferred', 'Deferred'],
];

export function makeRefresherHandler(deps: RefresherDeps) {
  const { logger, metrics, clock } = deps;

  async function runSweep(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SweepSummary> {
    const summary = await sweepDueUsers(deps, {
      windowMs: deps.windowMs,
      concurrency: deps.concurrency,
      deadline: clock() + context.getRemainingTimeInMillis() - TIMING.sweepReserveMs,
    });
    for (const [field, name] of SUMMARY_METRICS) countMetric(metrics, name, summary[field]);
    metrics.addMetric('SweepDuration', MetricUnit.Milliseconds, summary.durationMs);
    logger.info('sweep finished', { ...summary });
    return summary;
  }

  return withObservability(runSweep, deps);
}
