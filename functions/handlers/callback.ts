/**
 * GET /zoom/token?user_id=…&kid=…&sig=… — the URL Recall calls for a user's Zoom access token.
 * Verifies the request (./signed-request.ts: the HMAC in its URL, in constant time), then
 * answers the token as plain text.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type MetricName, TIMING } from '../contract';
import { serveAccessToken } from '../domain/serve-token';
import type { CallbackDeps } from './composition';
import { callbackError, text, type HttpResult } from './http';
import { countMetric, withObservability } from './middleware';
import { makeSignedRequestVerifier } from './signed-request';

/** The metric each answer counts in (alarms watch the last two). */
const ANSWER_METRICS: Record<number, MetricName> = {
  200: 'CallbackServed',
  403: 'CallbackRefused',
  503: 'CallbackTokenUnavailable',
  500: 'CallbackServerErrors',
};

export function makeCallbackHandler(deps: CallbackDeps) {
  const { logger, metrics, clock } = deps;
  const observe = (served: string) => served === 'waited_for_refresh' && countMetric(metrics, 'CallbackWaitedForRefresh');
  const verify = makeSignedRequestVerifier(deps);
  const serveDeps = { ...deps, observe };

  async function answerCallback(event: APIGatewayProxyEventV2): Promise<HttpResult> {
    const startedAt = clock();
    let result: HttpResult;
    // The verified user, named in the answer's log line (not appended to the logger for every
    // line: that is a merge and an unmerge per request on the hottest path).
    let userId: string | undefined;
    try {
      const subject = await verify(event, 'callback');
      userId = subject.userId;
      // Never waits on Zoom for a token Recall accepts; below that, at most the answer budget.
      const token = await serveAccessToken(userId, serveDeps, {
        deadline: startedAt + TIMING.answerBudgetMs,
        registrationId: subject.registrationId,
      });
      logger.info('token served', { userId, secondsLeft: Math.floor((token.expiresAt - clock()) / 1000) });
      result = text(200, token.accessToken);
    } catch (error) {
      result = callbackError(error, logger, userId);
    }
    const metric = ANSWER_METRICS[result.statusCode];
    if (metric) countMetric(metrics, metric);
    return result;
  }

  return withObservability(answerCallback, deps);
}
