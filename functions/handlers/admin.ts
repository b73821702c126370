/**
 * The admin API the app backend calls (IAM-authorized in AWS, bearer token locally):
 *   PUT    /users/{userId}/zoom-credential               store tokens, register with Recall
 *   GET    /users/{userId}/zoom-credential               status, never a token
 *   GET    /users/{userId}/zoom-credential/access-token  a fresh access token for the backend
 *   DELETE /users/{userId}/zoom-credential               delete at Recall, then here
 *   POST   /users/{userId}/zoom-credential/recall-sync   the Recall step alone (after a key rotation)
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { urlEnv, requiredEnv } from '../config';
import { NotFoundError } from '../domain/errors';
import { deleteUser, registerUser, syncRecallCredential } from '../domain/registration';
import { serveAccessToken } from '../domain/serve-token';
import type { StoredUser } from '../domain/token-record';
import { parseJsonBody, parseUserId, parseZoomTokens } from './admin-requests';
import {
  cipherFromEnv,
  countRefreshOutcomes,
  createLogger,
  createMetrics,
  recallClientsFromEnv,
  signingKeysFromEnv,
  tokenStoreFromEnv,
  zoomClientFromEnv,
} from './dependencies';
import { adminError, json, noContent, type HttpResult } from './http';
import type { AdminRouteKey } from './routes';

const logger = createLogger();
const metrics = createMetrics();
const observe = countRefreshOutcomes(metrics);
const store = tokenStoreFromEnv();
const cipher = cipherFromEnv();
const zoom = zoomClientFromEnv();
const recallUntil = recallClientsFromEnv();
const signingKeys = signingKeysFromEnv();
const publicBaseUrl = urlEnv('PUBLIC_BASE_URL', undefined);
const oauthAppId = requiredEnv('RECALL_ZOOM_OAUTH_APP_ID');

const registration = { store, cipher, signingKeys, clock: Date.now, publicBaseUrl, oauthAppId };

/** Time kept after the last Recall call to record its outcome and answer before the function times out. */
const RECALL_RESERVE_MS = 3_000;

/**
 * Recall for one request: all its calls together end in time to record a failure (a PUT may
 * make several, each with its own budget). Per request, never shared: invocations run
 * concurrently in the local runtime.
 */
function recallFor(context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - RECALL_RESERVE_MS;
  return recallUntil(() => deadline);
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const note = (value: StoredUser['lastError']) => (value ? { at: iso(value.at), code: value.code, message: value.message } : null);

/** One word for the backend: can Recall get a token for this user right now? */
function overallStatus(user: StoredUser): string {
  if (user.status === 'reauth_required') return 'reauth_required';
  if (user.recall.status !== 'registered') return `recall_${user.recall.status}`;
  return 'active';
}

/** The user's state as the admin API shows it. Never a token. */
export function statusView(user: StoredUser) {
  return {
    user_id: user.userId,
    status: overallStatus(user),
    token_status: user.status,
    access_token_expires_at: iso(user.accessTokenExpiresAt),
    recall_status: user.recall.status,
    recall_credential_id: user.recall.credentialId ?? null,
    recall_last_error: note(user.recall.lastError),
    last_refresh_at: iso(user.lastRefreshAt),
    last_error: note(user.lastError),
    reauth_required: note(user.reauthRequired),
    created_at: iso(user.createdAt),
    updated_at: iso(user.updatedAt),
  };
}

type Route = (userId: string, event: APIGatewayProxyEventV2, context: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<HttpResult>;

const routes: Record<AdminRouteKey, Route> = {
  'PUT /users/{userId}/zoom-credential': async (userId, event, context) => {
    const input = parseZoomTokens(parseJsonBody(event.body, event.isBase64Encoded), Date.now());
    const { created, user } = await registerUser(userId, input, { ...registration, recall: recallFor(context) });
    logger.info('user registered', { userId, created, recallStatus: user.recall.status });
    return json(created ? 201 : 200, statusView(user));
  },
  'GET /users/{userId}/zoom-credential': async (userId) => {
    const user = await store.get(userId, { consistent: true });
    if (!user) throw new NotFoundError('unknown user');
    return json(200, statusView(user));
  },
  'GET /users/{userId}/zoom-credential/access-token': async (userId, _event, context) => {
    const token = await serveAccessToken(
      userId,
      { store, cipher, zoom, logger, clock: Date.now, observe, saveUntil: Date.now() + context.getRemainingTimeInMillis() - 1_000 },
      { deadline: Date.now() + 10_000 },
    );
    return json(200, { access_token: token.accessToken, expires_at: iso(token.expiresAt) });
  },
  'POST /users/{userId}/zoom-credential/recall-sync': async (userId, _event, context) => {
    const user = await syncRecallCredential(userId, { ...registration, recall: recallFor(context) });
    logger.info('Recall credential synced', { userId, recallStatus: user.recall.status });
    return json(200, statusView(user));
  },
  'DELETE /users/{userId}/zoom-credential': async (userId, _event, context) => {
    await deleteUser(userId, { store, recall: recallFor(context) });
    logger.info('user deleted', { userId });
    return noContent();
  },
};

export async function answerAdmin(event: APIGatewayProxyEventV2, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<HttpResult> {
  if (!Object.hasOwn(routes, event.routeKey)) return json(404, { error: 'not_found', message: 'no such route' });
  const route = routes[event.routeKey as AdminRouteKey];
  try {
    return await route(parseUserId(event.pathParameters?.userId), event, context);
  } catch (error) {
    return adminError(error, logger);
  }
}

export const handler = middy(answerAdmin).use(injectLambdaContext(logger)).use(logMetrics(metrics));
