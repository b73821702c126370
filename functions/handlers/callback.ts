/**
 * GET /zoom/token?user_id=…&kid=…&sig=… — the URL Recall calls for a user's Zoom access token.
 * Verifies the HMAC signature in constant time, then answers the token as plain text.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { serveAccessToken } from '../domain/serve-token';
import { verifyCallbackSignature } from '../domain/signing';
import { cipherFromEnv, createLogger, signingKeysFromEnv, tokenStoreFromEnv, zoomClientFromEnv } from './dependencies';
import { callbackError, text, type HttpResult } from './http';

/** Recall waits 5 s for the answer; keep a margin for the network and the gateway. */
const ANSWER_BUDGET_MS = 4_000;
/** An inline refresh must leave time to store the new pair within the answer budget. */
const INLINE_ZOOM_TIMEOUT_MS = 2_500;

const logger = createLogger();
const store = tokenStoreFromEnv();
const cipher = cipherFromEnv();
const zoom = zoomClientFromEnv();
const signingKeys = signingKeysFromEnv();

export async function answerCallback(event: APIGatewayProxyEventV2, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<HttpResult> {
  const startedAt = Date.now();
  const query = event.queryStringParameters ?? {};
  try {
    const userId = verifyCallbackSignature(
      { userId: query.user_id ?? '', keyId: query.kid ?? '', signature: query.sig ?? '' },
      await signingKeys.keyring(),
    );
    logger.appendKeys({ userId });
    const token = await serveAccessToken(
      userId,
      {
        store,
        cipher,
        zoom,
        logger,
        clock: Date.now,
        zoomTimeoutMs: INLINE_ZOOM_TIMEOUT_MS,
        // A refreshed pair must be stored even after Recall stops waiting: use the function's whole time.
        saveBudgetMs: Math.max(context.getRemainingTimeInMillis() - INLINE_ZOOM_TIMEOUT_MS - 500, 1_000),
      },
      { deadline: startedAt + ANSWER_BUDGET_MS },
    );
    logger.info('token served', { secondsLeft: Math.floor((token.expiresAt - Date.now()) / 1000) });
    return text(200, token.accessToken);
  } catch (error) {
    return callbackError(error, logger);
  } finally {
    logger.removeKeys(['userId']);
  }
}

export const handler = middy(answerCallback).use(injectLambdaContext(logger));
