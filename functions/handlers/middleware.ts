/**
 * What every handler is wrapped in: the Lambda context on each log line, the invocation's
 * metrics published (as EMF) when it ends, error or not, and, when tracing is on, an X-Ray
 * segment for the invocation (Powertools Tracer).
 */
import middy, { type MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { MetricName } from '../contract';
import type { ServiceDeps } from './composition';
import { traceInvocations } from './tracing';

/**
 * Publishes only when something was counted: Powertools' own middleware warns on every
 * invocation that counted nothing, which is most of them for some functions. Locally, with
 * publishing off, the counts are dropped instead of printed.
 */
function publishMetrics(metrics: Metrics, publish: boolean): MiddlewareObj {
  const flush = async () => flushMetrics(metrics, publish);
  return { after: flush, onError: flush };
}

/**
 * Publishes what was counted so far (locally, drops it), with the dimensions added so far, and
 * clears both: a handler flushes early when metrics of one invocation need other dimensions.
 */
export function flushMetrics(metrics: Metrics, publish: boolean): void {
  if (!metrics.hasStoredMetrics()) return;
  if (publish) metrics.publishStoredMetrics();
  else {
    // What publishing clears too: an invocation's dimensions end with it.
    metrics.clearMetrics();
    metrics.clearDimensions();
  }
}

export function withObservability<Event, Result>(
  answer: (event: Event, context: Context) => Promise<Result>,
  deps: Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'tracer'>,
) {
  // No early-timeout race: every handler keeps its own deadlines inside the invocation's time.
  const handler = middy(answer, { timeoutEarlyInMillis: 0 })
    .use(injectLambdaContext(deps.logger))
    .use(publishMetrics(deps.metrics, deps.publishMetrics));
  return deps.tracer?.isTracingEnabled() ? handler.use(traceInvocations(deps.tracer)) : handler;
}

export function countMetric(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}
