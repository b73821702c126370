/**
 * GET /zoom/obf, /zoom/zak, /zoom/join-token ?user_id=…&reg=…&meeting_id=…&exp=…&kid=…&sig=… —
 * the URLs Recall's bot calls just before it joins a Zoom meeting. Verifies the request through
 * the callback's seam (./signed-request.ts), then mints a new token of the route's kind at
 * Zoom's API with the user's vaulted access token (domain/bot-tokens.ts) and answers it as plain
 * text, uncached. The token is in the answer's body and nowhere else: no log line, metric,
 * event or error carries it.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BOT_TOKEN_ALARMED_REASONS, BOT_TOKEN_METRIC_DIMENSION, type BotTokenFailureReason, botTokenKindOf, TIMING } from '../contract';
import { mintBotToken } from '../domain/bot-tokens';
import { InvalidSignatureError } from '../domain/errors';
import type { BotTokenFunctionDeps } from './composition';
import { botTokenError, describe, text, type HttpResult } from './http';
import { countMetric, flushMetrics, withObservability } from './middleware';
import { makeSignedRequestVerifier } from './signed-request';

export function makeBotTokenHandler(deps: BotTokenFunctionDeps) {
  const { logger, metrics, clock } = deps;
  const verify = makeSignedRequestVerifier(deps);

  /**
   * One failure: BotTokenErrors (no extra dimension: the alarm's one metric) for the reasons an
   * operator must act on, published first, then BotTokenFailures by reason.
   */
  function countFailure(reason: BotTokenFailureReason): void {
    if (BOT_TOKEN_ALARMED_REASONS.includes(reason)) {
      countMetric(metrics, 'BotTokenErrors');
      flushMetrics(metrics, deps.publishMetrics);
    }
    metrics.addDimension(BOT_TOKEN_METRIC_DIMENSION.failed, reason);
    countMetric(metrics, 'BotTokenFailures');
  }

  async function answerBotToken(event: APIGatewayProxyEventV2): Promise<HttpResult> {
    const startedAt = clock();
    const kind = botTokenKindOf(event.routeKey);
    // The verified user and the kind, named in the answer's log line.
    let userId: string | undefined;
    try {
      if (!kind) throw new InvalidSignatureError('not a bot-token route');
      const subject = await verify(event, kind);
      userId = subject.userId;
      const token = await mintBotToken({ kind, ...subject }, deps, { deadline: startedAt + TIMING.answerBudgetMs });
      logger.info('bot token minted', { userId, kind });
      // One outcome per invocation, so the dimension is this invocation's (cleared with its metrics).
      metrics.addDimension(BOT_TOKEN_METRIC_DIMENSION.minted, kind);
      countMetric(metrics, 'BotTokensMinted');
      return text(200, token);
    } catch (error) {
      const { result, reason } = botTokenError(error);
      const line = { ...(userId === undefined ? {} : { userId }), kind, reason, status: result.statusCode, ...describe(error) };
      if (result.statusCode === 500) logger.error('bot token not minted', line);
      else logger.warn('bot token not minted', line);
      countFailure(reason);
      return result;
    }
  }

  return withObservability(answerBotToken, deps);
}
