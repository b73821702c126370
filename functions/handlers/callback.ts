/**
 * GET /zoom/token?user_id=…&kid=…&sig=… — the URL Recall calls for a user's Zoom access token.
 * Verifies the HMAC signature in constant time, then answers the token as plain text.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type MetricName, TIMING } from '../contract';
import { serveAccessToken } from '../domain/serve-token';
import { verifyCallbackSignature } from '../domain/signing';
import type { CallbackDeps } from './composition';
import { callbackError, text, type HttpResult } from './http';
import { countMetric, countRefreshOutcomes, withObservability } from './middleware';

/** The metric each answer counts in (alarms watch the last two). */
const ANSWER_METRICS: Record<number, MetricName> = {
  200: 'CallbackServed',
  403: 'CallbackRefused',
  503: 'CallbackTokenUnavailable',
  500: 'CallbackServerErrors',
};

export function makeCallbackHandler(deps: CallbackDeps) {
  const { logger, metrics, clock } = deps;
  const observe = countRefreshOutcomes(metrics);

  async function answerCallback(event: APIGatewayProxyEventV2, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<HttpResult> {
    const startedAt = clock();
    const query = event.queryStringParameters ?? {};
    let result: HttpResult;
    try {
      const userId = verifyCallbackSignature(
        { userId: query.user_id ?? '', keyId: query.kid ?? '', signature: query.sig ?? '' },
        await deps.signingKeys.keyring(),
      );
      logger.appendKeys({ userId });
      // An inline refresh is the last resort (the refresher renews tokens well before this): it may
      // outlast Recall's 5 s, since storing the new pair matters more than this one answer.
      const token = await serveAccessToken(
        userId,
        { ...deps, observe, saveUntil: startedAt + context.getRemainingTimeInMillis() - TIMING.endReserveMs },
        { deadline: startedAt + TIMING.answerBudgetMs },
      );
      logger.info('token served', { secondsLeft: Math.floor((token.expiresAt - clock()) / 1000) });
      result = text(200, token.accessToken);
    } catch (error) {
      result = callbackError(error, logger);
    } finally {
      logger.removeKeys(['userId']);
    }
    const metric = ANSWER_METRICS[result.statusCode];
    if (metric) countMetric(metrics, metric);
    return result;
  }

  return withObservability(answerCallback, deps);
}
