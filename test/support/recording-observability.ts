/**
 * A handler's logger and metrics for unit tests: every log line's arguments kept (`logged`),
 * every publication's EMF blob kept (`published`) instead of printed.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export function recordingObservability() {
  const logger = new Logger({ logLevel: 'SILENT' });
  const logged: unknown[][] = [];
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    jest.spyOn(logger, level).mockImplementation((...args: unknown[]) => void logged.push(args));
  }
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
  const published: Array<Record<string, unknown>> = [];
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
    published.push(metrics.serializeMetrics() as unknown as Record<string, unknown>);
    metrics.clearMetrics();
    metrics.clearDimensions();
    return metrics;
  });
  return { logger, metrics, logged, published };
}
