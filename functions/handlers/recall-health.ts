/**
 * The Recall health check (EventBridge schedule, hourly; the local runtime runs it on an
 * interval): marks users whose credential Recall reports unhealthy, once per transition, and
 * counts them (RecallCredentialsUnhealthy).
 */
import type { Context } from 'aws-lambda';
import { checkRecallHealth, type RecallHealthSummary } from '../domain/recall-health';
import type { RecallHealthFunctionDeps } from './composition';
import { countMetric, withObservability } from './middleware';

/** The check stops calling Recall this long before the function's timeout. */
const HEALTH_RESERVE_MS = 10_000;

export function makeRecallHealthHandler(deps: RecallHealthFunctionDeps) {
  const { metrics, clock } = deps;

  async function check(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<RecallHealthSummary> {
    const deadline = clock() + Math.max(0, context.getRemainingTimeInMillis() - HEALTH_RESERVE_MS);
    const summary = await checkRecallHealth({ ...deps, recall: deps.recallUntil(() => deadline) });
    // Newly unhealthy credentials, published only when there are some: a metric published every
    // hour, zeros included, is a custom metric billed every month ($0.30) whether anyone is unhealthy or not;
    // its alarm treats no data as nothing wrong.
    if (summary.marked > 0) countMetric(metrics, 'RecallCredentialsUnhealthy', summary.marked);
    return summary;
  }

  return withObservability(check, deps);
}
