/**
 * What every handler is wrapped in: the Lambda context on each log line, the invocation's
 * metrics published (as EMF) when it ends, error or not, and, when tracing is on, an X-Ray
 * segment for the invocation (Powertools Tracer, ./tracing.ts).
 *
 * A plain wrapper rather than a middleware engine: it calls what Powertools' own middleware
 * calls (the Logger's `refreshSampleRateCalculation` and `addContext`), and no function's bundle
 * carries an engine it does not need. The event itself is never logged (Powertools' optional
 * event logging is not wired): a token route's event carries the URL's signature.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { MetricName } from '../contract';
import type { ServiceDeps } from './composition';
import { traceInvocations } from './tracing';

type Handler<Event, Result> = (event: Event, context: Context) => Promise<Result>;

/**
 * Publishes what was counted so far (locally, drops it), with the dimensions added so far, and
 * clears both: a handler flushes early when metrics of one invocation need other dimensions.
 * Publishes only when something was counted: Powertools' own middleware warns on every
 * invocation that counted nothing, which is most of them for some functions.
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
  answer: Handler<Event, Result>,
  deps: Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'tracer'>,
): Handler<Event, Result> {
  const { logger, metrics, publishMetrics } = deps;
  // No early-timeout race: every handler keeps its own deadlines inside the invocation's time.
  async function observed(event: Event, context: Context): Promise<Result> {
    logger.refreshSampleRateCalculation();
    logger.addContext(context);
    try {
      return await answer(event, context);
    } finally {
      flushMetrics(metrics, publishMetrics);
    }
  }
  return deps.tracer?.isTracingEnabled() ? traceInvocations(deps.tracer, observed) : observed;
}

export function countMetric(metrics: Metrics, name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}
