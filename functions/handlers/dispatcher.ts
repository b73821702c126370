/**
 * The dispatcher (EventBridge, every few minutes): hands the due users to the refresh workers,
 * most urgent first, and publishes how many were due, handed out and deferred, and how late the
 * most overdue token is. The refreshing itself is the workers' (refresh-worker.ts).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { type MetricName, TIMING } from '../contract';
import { dispatchDueUsers, type DispatchSummary } from '../domain/dispatch';
import type { DispatcherDeps } from './composition';
import { countMetric, withObservability } from './middleware';

const SUMMARY_METRICS: Array<[keyof DispatchSummary, MetricName]> = [
  ['due', 'UsersDue'],
  ['dispatched', 'Dispatched'],
  ['deferred', 'Deferred'],
];

export function makeDispatcherHandler(deps: DispatcherDeps) {
  const { logger, metrics, clock } = deps;

  async function dispatch(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<DispatchSummary> {
    const summary = await dispatchDueUsers(deps, {
      windowMs: deps.windowMs,
      maxUsers: deps.maxUsers,
      deadline: clock() + Math.max(0, context.getRemainingTimeInMillis() - TIMING.dispatchReserveMs),
    });
    for (const [field, name] of SUMMARY_METRICS) countMetric(metrics, name, summary[field]);
    // Published on every run, zero included: its alarm treats missing data as breaching (a heartbeat).
    metrics.addMetric('OldestDueAgeSeconds', MetricUnit.Seconds, summary.oldestDueAgeSeconds);
    logger.info('dispatch finished', { ...summary });
    return summary;
  }

  return withObservability(dispatch, deps);
}
