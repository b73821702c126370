/**
 * The scheduled refresher (EventBridge, every few minutes): one sweep over the due users, a
 * summary log line and CloudWatch metrics (EMF) for each count.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { integerEnv } from '../config';
import { REFRESH_WINDOW_SECONDS } from '../domain/freshness';
import { sweepDueUsers, type SweepSummary } from '../domain/sweep';
import { cipherFromEnv, createLogger, createMetrics, tokenStoreFromEnv, zoomClientFromEnv } from './dependencies';

const logger = createLogger();
const metrics = createMetrics();
const store = tokenStoreFromEnv();
const cipher = cipherFromEnv();
const zoom = zoomClientFromEnv();
const windowMs = integerEnv('REFRESH_WINDOW_SECONDS', REFRESH_WINDOW_SECONDS.default, REFRESH_WINDOW_SECONDS) * 1000;
const concurrency = integerEnv('REFRESH_CONCURRENCY', 8, { min: 1, max: 64 });

/** Time kept back at the end of the invocation for the last refreshes to store their results. */
const RESERVE_MS = 30_000;

const METRIC_NAMES: Array<[keyof SweepSummary, string]> = [
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

export async function runSweep(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SweepSummary> {
  const summary = await sweepDueUsers(
    { store, cipher, zoom, logger, clock: Date.now },
    { windowMs, concurrency, deadline: Date.now() + context.getRemainingTimeInMillis() - RESERVE_MS },
  );
  for (const [field, name] of METRIC_NAMES) metrics.addMetric(name, MetricUnit.Count, summary[field]);
  metrics.addMetric('SweepDuration', MetricUnit.Milliseconds, summary.durationMs);
  logger.info('sweep finished', { ...summary });
  return summary;
}

export const handler = middy(runSweep).use(injectLambdaContext(logger)).use(logMetrics(metrics));
