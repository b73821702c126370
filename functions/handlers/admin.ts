/**
 * The admin API the app backend calls (IAM-authorized in AWS, bearer token locally):
 *   GET    /users?status=&limit=&cursor=                 users in a state, a page at a time
 *   PUT    /users/{userId}/zoom-credential               store tokens, register with Recall
 *   GET    /users/{userId}/zoom-credential               status, never a token
 *   GET    /users/{userId}/zoom-credential/access-token  a fresh access token for the backend
 *   DELETE /users/{userId}/zoom-credential               delete at Recall, then here
 *   POST   /users/{userId}/zoom-credential/recall-sync   the Recall step alone (after a key rotation)
 *   POST   /users/{userId}/zoom-credential/bot-token-urls signed OBF / ZAK / join-token URLs for a meeting
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type AdminRouteKey, TIMING } from '../contract';
import { botTokenCapabilities, issueBotTokenUrls } from '../domain/bot-tokens';
import { NotFoundError, UnreadableRecordError } from '../domain/errors';
import { deleteUser, registerUser, syncRecallCredential } from '../domain/registration';
import { serveAccessToken } from '../domain/serve-token';
import { listUsers } from '../domain/listing';
import { overallStatus, type StoredUser } from '../domain/token-record';
import { encodeCursor, parseBotTokenUrls, parseJsonBody, parseListQuery, parseUserId, parseZoomTokens } from './admin-requests';
import {
  ADMIN_RESPONSES,
  type AccessTokenView,
  type BotTokenUrlsView,
  RECALL_BOT_TOKEN_FIELDS,
  type UserDetailView,
  type UserPage,
  type UserStatusView,
} from './admin-schemas';
import type { AdminDeps } from './composition';
import { adminError, json, noContent, type HttpResult } from './http';
import { withObservability } from './middleware';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const note = (value: StoredUser['lastError']) => (value ? { at: iso(value.at), code: value.code, message: value.message } : null);

/** The user's state as the admin API shows it (the `UserStatus` schema of ./admin-schemas.ts). Never a token. */
export function statusView(user: StoredUser): UserStatusView {
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

/**
 * The user's state and what the grant can mint (the `UserDetail` schema). Reads the scopes from
 * the sealed pair (they are not kept in clear); a record that cannot be opened shows none, so
 * the status stays readable for diagnosis.
 */
async function detailView(user: StoredUser, deps: Pick<AdminDeps, 'cipher' | 'logger'>): Promise<UserDetailView> {
  let capabilities: Awaited<ReturnType<typeof botTokenCapabilities>> = { kinds: [] };
  try {
    capabilities = await botTokenCapabilities(user, deps.cipher);
  } catch (error) {
    if (!(error instanceof UnreadableRecordError)) throw error;
    deps.logger.error('stored record cannot be opened', { userId: user.userId, errorName: error.name });
  }
  return { ...statusView(user), bot_token_kinds: capabilities.kinds, zoom_scopes: capabilities.scopes ?? null };
}

/** `POST …/bot-token-urls`: Recall's Create Bot `zoom` object and the URLs' expiry. */
async function botTokenUrls(userId: string, event: APIGatewayProxyEventV2, deps: AdminDeps): Promise<BotTokenUrlsView> {
  const request = parseBotTokenUrls(parseJsonBody(event.body, event.isBase64Encoded));
  const issued = await issueBotTokenUrls(userId, request, { ...deps, routeUrls: deps.botTokenUrls });
  const zoom: BotTokenUrlsView['zoom'] = {};
  for (const kind of request.kinds) zoom[RECALL_BOT_TOKEN_FIELDS[kind]] = issued.urls[kind];
  deps.logger.info('bot-token URLs issued', { userId, kinds: request.kinds, validForSeconds: request.validForSeconds });
  return { zoom, expires_at: new Date(issued.expiresAt).toISOString() };
}

type Invocation = Pick<Context, 'getRemainingTimeInMillis'>;
type Route = (event: APIGatewayProxyEventV2, context: Invocation) => Promise<HttpResult>;
/** The user's routes: the path's user id checked first. */
type UserRoute = (userId: string, event: APIGatewayProxyEventV2, context: Invocation) => Promise<HttpResult>;
const forUser =
  (route: UserRoute): Route =>
  (event, context) =>
    route(parseUserId(event.pathParameters?.userId), event, context);

/** The admin routes, each a short function of its request: one declarative table. */
function adminRoutes(deps: AdminDeps): Record<AdminRouteKey, Route> {
  const { logger, store, clock } = deps;

  /**
   * Registration's dependencies for one request: all its Recall calls together end in time to
   * record a failure (a PUT may make several, each with its own budget). Per request, never
   * shared: invocations run concurrently in the local runtime.
   */
  const registrationFor = (context: Invocation) => {
    const deadline = clock() + context.getRemainingTimeInMillis() - TIMING.adminRecallReserveMs;
    return { ...deps, recall: deps.recallUntil(() => deadline) };
  };

  return {
    'GET /users': async (event) => {
      const query = parseListQuery(event.queryStringParameters);
      const page = await listUsers(store, query.status, { limit: query.limit, after: query.after });
      return json(200, { users: page.users.map(statusView), next_cursor: page.last ? encodeCursor(page.last) : null } satisfies UserPage);
    },
    'PUT /users/{userId}/zoom-credential': forUser(async (userId, event, context) => {
      const input = parseZoomTokens(parseJsonBody(event.body, event.isBase64Encoded), clock());
      const { created, user } = await registerUser(userId, input, registrationFor(context));
      logger.info('user registered', { userId, created, recallStatus: user.recall.status });
      return json(created ? 201 : 200, statusView(user));
    }),
    'GET /users/{userId}/zoom-credential': forUser(async (userId) => {
      const user = await store.get(userId, { consistent: true });
      if (!user) throw new NotFoundError('unknown user');
      return json(200, await detailView(user, deps));
    }),
    'GET /users/{userId}/zoom-credential/access-token': forUser(async (userId) => {
      const token = await serveAccessToken(userId, deps, { deadline: clock() + TIMING.adminAnswerBudgetMs });
      return json(200, { access_token: token.accessToken, expires_at: iso(token.expiresAt) } satisfies AccessTokenView);
    }),
    'POST /users/{userId}/zoom-credential/recall-sync': forUser(async (userId, _event, context) => {
      const user = await syncRecallCredential(userId, registrationFor(context));
      logger.info('Recall credential synced', { userId, recallStatus: user.recall.status });
      return json(200, statusView(user));
    }),
    'POST /users/{userId}/zoom-credential/bot-token-urls': forUser(async (userId, event) =>
      json(200, await botTokenUrls(userId, event, deps)),
    ),
    'DELETE /users/{userId}/zoom-credential': forUser(async (userId, _event, context) => {
      await deleteUser(userId, registrationFor(context));
      logger.info('user deleted', { userId });
      return noContent();
    }),
  };
}

export function makeAdminHandler(deps: AdminDeps) {
  const { logger } = deps;
  const routes = adminRoutes(deps);

  async function answerAdmin(event: APIGatewayProxyEventV2, context: Invocation): Promise<HttpResult> {
    if (!Object.hasOwn(routes, event.routeKey)) return json(404, { error: 'not_found', message: 'no such route' });
    const routeKey = event.routeKey as AdminRouteKey;
    let result: HttpResult;
    try {
      result = await routes[routeKey](event, context);
    } catch (error) {
      result = adminError(error, logger);
    }
    // The OpenAPI document promises these codes only (admin-schemas.ts): say so if one escapes.
    if (!(ADMIN_RESPONSES[routeKey] as readonly number[]).includes(result.statusCode)) {
      logger.error('admin answer with a status code the API does not document', { routeKey, statusCode: result.statusCode });
    }
    return result;
  }

  return withObservability(answerAdmin, deps);
}
