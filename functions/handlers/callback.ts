/**
 * GET /zoom/token?user_id=…&kid=…&sig=… — the URL Recall calls for a user's Zoom access token.
 * Verifies the HMAC signature in constant time, then answers the token as plain text.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { serveAccessToken } from '../domain/serve-token';
import { verifyCallbackSignature } from '../domain/signing';
import {
  cipherFromEnv,
  countRefreshOutcomes,
  createLogger,
  createMetrics,
  signingKeysFromEnv,
  tokenStoreFromEnv,
  zoomClientFromEnv,
} from './dependencies';
import { callbackError, text, type HttpResult } from './http';

/** Recall waits 5 s for the answer: requests waiting for another's refresh give up after this. */
const ANSWER_BUDGET_MS = 4_000;
/** Kept back at the end of the invocation so a refreshed pair's last write attempt can finish. */
const END_RESERVE_MS = 1_000;

const logger = createLogger();
const metrics = createMetrics();
const store = tokenStoreFromEnv();
const cipher = cipherFromEnv();
const zoom = zoomClientFromEnv();
const signingKeys = signingKeysFromEnv();
const observe = countRefreshOutcomes(metrics);

/** The metric each answer counts in (alarms watch the last two). */
const ANSWER_METRICS: Record<number, string> = { 200: 'CallbackServed', 403: 'CallbackRefused', 503: 'CallbackTokenUnavailable', 500: 'CallbackServerErrors' };

export async function answerCallback(event: APIGatewayProxyEventV2, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<HttpResult> {
  const startedAt = Date.now();
  const query = event.queryStringParameters ?? {};
  let result: HttpResult;
  try {
    const userId = verifyCallbackSignature(
      { userId: query.user_id ?? '', keyId: query.kid ?? '', signature: query.sig ?? '' },
      await signingKeys.keyring(),
    );
    logger.appendKeys({ userId });
    // An inline refresh is the last resort (the refresher renews tokens well before this): it may
    // outlast Recall's 5 s, since storing the new pair matters more than this one answer.
    const token = await serveAccessToken(
      userId,
      { store, cipher, zoom, logger, clock: Date.now, observe, saveUntil: startedAt + context.getRemainingTimeInMillis() - END_RESERVE_MS },
      { deadline: startedAt + ANSWER_BUDGET_MS },
    );
    logger.info('token served', { secondsLeft: Math.floor((token.expiresAt - Date.now()) / 1000) });
    result = text(200, token.accessToken);
  } catch (error) {
    result = callbackError(error, logger);
  } finally {
    logger.removeKeys(['userId']);
  }
  const metric = ANSWER_METRICS[result.statusCode];
  if (metric) metrics.addMetric(metric, MetricUnit.Count, 1);
  return result;
}

export const handler = middy(answerCallback).use(injectLambdaContext(logger)).use(logMetrics(metrics));
