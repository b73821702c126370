/**
 * Names and numbers that cross the line between the infrastructure (lib/), the functions, the
 * local runtime (local/) and the benchmark (bench/). Each is written here once; everything else
 * imports it. Plain data only: this module is bundled into every function.
 */
import { TIMING } from './domain/timing';

export { TIMING, RECALL_MINIMUM_VALIDITY_MS } from './domain/timing';

/** Powertools `service`: the `service` key of every log line and the metric dimension alarms watch. */
export const SERVICE_NAME = 'zoom-token-vault';
/** CloudWatch namespace of the custom metrics. */
export const METRICS_NAMESPACE = 'ZoomTokenVault';

/** Every KMS data key is bound to this encryption context; IAM requires `kms:EncryptionContext:purpose`. */
export const ENCRYPTION_CONTEXT = Object.freeze({ purpose: 'zoom-token-vault' });

/** The public callback route Recall calls. */
export const CALLBACK_PATH = '/zoom/token';

/** The HTTP API's routes as API Gateway route keys ("METHOD /path"). */
export const CALLBACK_ROUTE_KEY = `GET ${CALLBACK_PATH}`;

/**
 * The bot tokens Zoom's 2026 rules call for (Recall's Create Bot `zoom.obf_token_url`,
 * `zoom.zak_url`, `zoom.join_token_url`): each minted on every GET of its signed public route.
 */
export const BOT_TOKEN_KINDS = ['obf', 'zak', 'join_token'] as const;
export type BotTokenKind = (typeof BOT_TOKEN_KINDS)[number];
/** The public route of each kind, authenticated like the callback (an HMAC in its URL). */
export const BOT_TOKEN_PATHS: Readonly<Record<BotTokenKind, string>> = {
  obf: '/zoom/obf',
  zak: '/zoom/zak',
  join_token: '/zoom/join-token',
};
export const BOT_TOKEN_ROUTE_KEYS = BOT_TOKEN_KINDS.map((kind) => `GET ${BOT_TOKEN_PATHS[kind]}`);
/** The kind a bot-token route key mints; undefined for any other route. */
export function botTokenKindOf(routeKey: string): BotTokenKind | undefined {
  return BOT_TOKEN_KINDS.find((kind) => `GET ${BOT_TOKEN_PATHS[kind]}` === routeKey);
}
/** Zoom's event notifications (app_deauthorized); public, verified by Zoom's own signature. */
export const ZOOM_EVENTS_ROUTE_KEY = 'POST /zoom/events';
export const ADMIN_ROUTE_KEYS = [
  'GET /users',
  'PUT /users/{userId}/zoom-credential',
  'GET /users/{userId}/zoom-credential',
  'DELETE /users/{userId}/zoom-credential',
  'GET /users/{userId}/zoom-credential/access-token',
  'POST /users/{userId}/zoom-credential/recall-sync',
  'POST /users/{userId}/zoom-credential/bot-token-urls',
] as const;
export type AdminRouteKey = (typeof ADMIN_ROUTE_KEYS)[number];

export function splitRouteKey(routeKey: string): { method: string; path: string } {
  const [method, path] = routeKey.split(' ');
  return { method, path };
}

/**
 * The Lambda functions, by name: each has its entry `functions/lambda/<name>.ts`, is the
 * construct `<Name>Function` of the stack (PascalCase: `refresh-worker` → `RefreshWorkerFunction`),
 * and is what the local runtime and the AWS contract harness (test/aws) call it.
 */
export const FUNCTION_NAMES = ['callback', 'bot-token', 'admin', 'dispatcher', 'refresh-worker', 'recall-health', 'zoom-events'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Environment variables the stack sets and the composition roots read. */
export const ENV = {
  tableName: 'TABLE_NAME',
  dueIndexName: 'DUE_INDEX_NAME',
  dueShards: 'DUE_SHARDS',
  kmsKeyId: 'KMS_KEY_ID',
  signingKeysSecretId: 'SIGNING_KEYS_SECRET_ID',
  /** Local runtime only: the signing keys as a JSON file. */
  signingKeysFile: 'SIGNING_KEYS_FILE',
  publicBaseUrl: 'PUBLIC_BASE_URL',
  recallApiBaseUrl: 'RECALL_API_BASE_URL',
  recallApiKey: 'RECALL_API_KEY',
  recallApiKeySecretId: 'RECALL_API_KEY_SECRET_ID',
  recallZoomOAuthAppId: 'RECALL_ZOOM_OAUTH_APP_ID',
  recallTimeoutMs: 'RECALL_TIMEOUT_MS',
  recallBudgetMs: 'RECALL_BUDGET_MS',
  zoomTokenUrl: 'ZOOM_TOKEN_URL',
  zoomClientId: 'ZOOM_CLIENT_ID',
  zoomClientSecret: 'ZOOM_CLIENT_SECRET',
  zoomClientSecretSecretId: 'ZOOM_CLIENT_SECRET_SECRET_ID',
  /** Zoom's REST API (bot tokens), default https://api.zoom.us/v2. */
  zoomApiBaseUrl: 'ZOOM_API_BASE_URL',
  refreshWindowSeconds: 'REFRESH_WINDOW_SECONDS',
  refreshConcurrency: 'REFRESH_CONCURRENCY',
  refreshQueueUrl: 'REFRESH_QUEUE_URL',
  /** proactive (default) or adaptive. */
  refreshPolicy: 'REFRESH_POLICY',
  adaptiveActiveDays: 'ADAPTIVE_ACTIVE_DAYS',
  adaptiveKeepAliveHours: 'ADAPTIVE_KEEPALIVE_HOURS',
  dispatchMaxUsers: 'DISPATCH_MAX_USERS',
  /** EventBridge bus the lifecycle events go to (name or ARN; unset: none published). */
  eventBusName: 'EVENT_BUS_NAME',
  /** Local runtime only: lifecycle events POSTed here as JSON. */
  eventsWebhookUrl: 'EVENTS_WEBHOOK_URL',
  zoomWebhookSecretToken: 'ZOOM_WEBHOOK_SECRET_TOKEN',
  zoomWebhookSecretTokenSecretId: 'ZOOM_WEBHOOK_SECRET_TOKEN_SECRET_ID',
  /**
   * Recall's workspace verification secret(s), `whsec_…` separated by spaces: the value itself
   * (local runtime), or the Secrets Manager secret holding it (AWS). Unset: no check.
   */
  recallVerificationSecret: 'RECALL_VERIFICATION_SECRET',
  recallVerificationSecretSecretId: 'RECALL_VERIFICATION_SECRET_SECRET_ID',
  /** enforce (default with a secret) or report. */
  recallSignatureMode: 'RECALL_SIGNATURE_MODE',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

/**
 * What a missing or invalid Recall request signature does on the public token routes:
 * `enforce` refuses it (the URL's own 403), `report` serves as before, logging and counting it.
 */
export const RECALL_SIGNATURE_MODES = ['enforce', 'report'] as const;
export type RecallSignatureMode = (typeof RECALL_SIGNATURE_MODES)[number];

/** Integer settings with the range both the stack (at synth) and the functions (at cold start) enforce. */
export interface Range {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}
/**
 * Due-index shards. Raise only: items keep the shard they were written with. Queried one by one
 * per sweep, so a few suffice for a table's write rate.
 */
export const DUE_SHARDS: Range = { min: 1, max: 100, default: 8 };
/**
 * How far ahead the refresher looks, in seconds: at least the serve margin plus a minute, or
 * tokens reach the callback unrefreshed; well under Zoom's hour, or every sweep refreshes every token.
 */
export const REFRESH_WINDOW_SECONDS: Range = { min: 360, max: 3000, default: 900 };
export const REFRESH_CONCURRENCY: Range = { min: 1, max: 64, default: 8 };
export const REFRESH_INTERVAL_MINUTES: Range = { min: 1, max: 45, default: 5 };
export const REFRESH_POLICIES = ['proactive', 'adaptive'] as const;
/** Adaptive policy: a user is kept warm this many days after its token was last handed out. */
export const ADAPTIVE_ACTIVE_DAYS: Range = { min: 1, max: 90, default: 7 };
/** Adaptive policy: an idle user's grant is refreshed at least this often (Zoom refresh tokens lapse unused). */
export const ADAPTIVE_KEEPALIVE_HOURS: Range = { min: 1, max: 720, default: 24 };
/** Users one dispatcher run hands out at most: what the workers refresh before the next run. */
export const DISPATCH_MAX_USERS: Range = { min: 10, max: 10_000_000, default: 200_000 };

/** A key attribute of the table or an index: S (string) or N (number). */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface IndexSchema {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

/**
 * The token table: one item per user, and its indexes (all KEYS_ONLY: an index is written only
 * when its key attributes change, not on every refresh). The stack and the local runtime
 * create the table from this; the store queries it by these names.
 */
export const TABLE_SCHEMA = {
  partitionKey: { name: 'user_id', type: 'S' },
  /** Sparse (active users only) and sharded: the users due for refresh, by due time. */
  dueIndex: { name: 'due-index', partitionKey: { name: 'due_shard', type: 'S' }, sortKey: { name: 'due_at', type: 'N' } },
  /** Users by token status (active, reauth_required, deauthorized): listing without a scan. */
  statusIndex: { name: 'status-index', partitionKey: { name: 'status', type: 'S' }, sortKey: { name: 'user_id', type: 'S' } },
  /** Users by the state of their Recall credential (pending, registered, failed, unhealthy). */
  recallStatusIndex: {
    name: 'recall-status-index',
    partitionKey: { name: 'recall_status', type: 'S' },
    sortKey: { name: 'user_id', type: 'S' },
  },
  /** Sparse: users by the Zoom user id Recall reported, for Zoom's deauthorization events. */
  zoomUserIndex: { name: 'zoom-user-index', partitionKey: { name: 'zoom_user_id', type: 'S' }, sortKey: { name: 'user_id', type: 'S' } },
} as const satisfies { partitionKey: KeyAttribute } & Record<string, KeyAttribute | IndexSchema>;

export const TABLE_INDEXES: readonly IndexSchema[] = [
  TABLE_SCHEMA.dueIndex,
  TABLE_SCHEMA.statusIndex,
  TABLE_SCHEMA.recallStatusIndex,
  TABLE_SCHEMA.zoomUserIndex,
];

/** Custom metrics (namespace METRICS_NAMESPACE, dimension `service`). Alarms name them from here. */
export const METRIC = {
  // The callback's answers, one metric per status.
  callbackServed: 'CallbackServed',
  callbackRefused: 'CallbackRefused',
  callbackTokenUnavailable: 'CallbackTokenUnavailable',
  callbackServerErrors: 'CallbackServerErrors',
  /** A served token was close to expiry: the answer waited for a refresh (below the serve floor). */
  callbackWaitedForRefresh: 'CallbackWaitedForRefresh',
  // Refresh outcomes (the workers).
  refreshed: 'Refreshed',
  skippedLeaseHeld: 'SkippedLeaseHeld',
  failedRetryable: 'FailedRetryable',
  grantsDead: 'GrantsDead',
  zoomMisconfigured: 'ZoomMisconfigured',
  refreshResultUnsaved: 'RefreshResultUnsaved',
  /** A refresh was sent and no answer came back in time: the token may be spent. */
  refreshAnswerLost: 'RefreshAnswerLost',
  /** A refresh token was spent and its answer never reached storage: the user must re-authorize. */
  refreshLostInFlight: 'RefreshLostInFlight',
  zoomThrottled: 'ZoomThrottled',
  refreshWorkerErrors: 'RefreshWorkerErrors',
  // The dispatcher.
  usersDue: 'UsersDue',
  dispatched: 'Dispatched',
  deferred: 'Deferred',
  oldestDueAgeSeconds: 'OldestDueAgeSeconds',
  // The bot-token routes: tokens minted (dimension `kind`), requests that got none (dimension
  // `reason`), and of those the ones an operator must act on (no extra dimension: the alarm's).
  botTokensMinted: 'BotTokensMinted',
  botTokenFailures: 'BotTokenFailures',
  botTokenErrors: 'BotTokenErrors',
  /**
   * Public token requests with a valid URL but without Recall's valid signature (only with a
   * verification secret set): refused in enforce mode, served and logged in report mode.
   */
  recallSignatureFailures: 'RecallSignatureFailures',
  // Lifecycle events, Recall health, Zoom's deauthorizations.
  eventsPublished: 'EventsPublished',
  eventsPublishFailed: 'EventsPublishFailed',
  recallCredentialsUnhealthy: 'RecallCredentialsUnhealthy',
  zoomDeauthorized: 'ZoomDeauthorized',
} as const;

/** The extra dimension of each bot-token metric (beside `service`). */
export const BOT_TOKEN_METRIC_DIMENSION = { minted: 'kind', failed: 'reason' } as const;

/**
 * Why a bot-token request got no token, as its answer says (the 404 and 503 bodies) and the
 * BotTokenFailures metric counts it. `refused`: 403 (signature, expiry, another kind or
 * meeting, a user deleted or registered again). 404: `reauth_required`, `deauthorized`,
 * `scope_missing`, `meeting_not_found`, `zoom_refused`. 503: `refresh_in_progress`,
 * `zoom_unavailable`, `unreadable_record`. 500: `internal_error`.
 */
export const BOT_TOKEN_FAILURE_REASONS = [
  'refused',
  'reauth_required',
  'deauthorized',
  'scope_missing',
  'meeting_not_found',
  'zoom_refused',
  'refresh_in_progress',
  'zoom_unavailable',
  'unreadable_record',
  'internal_error',
] as const;
export type BotTokenFailureReason = (typeof BOT_TOKEN_FAILURE_REASONS)[number];
/**
 * The reasons an operator must act on (counted in BotTokenErrors too, which the alarm watches):
 * Zoom or the vault failing, or the Zoom app lacking a scope. Refusals, dead grants and unknown meetings are the
 * caller's or the user's, and have alarms or answers of their own.
 */
export const BOT_TOKEN_ALARMED_REASONS: readonly BotTokenFailureReason[] = [
  'scope_missing',
  'zoom_refused',
  'refresh_in_progress',
  'zoom_unavailable',
  'unreadable_record',
  'internal_error',
];

/**
 * Lifecycle events for the app backend (EventBridge `source`, and the `detail-type` of each).
 * Every `detail` carries `version`, `user_id`, `status`, `reason` (when there is one) and `time`;
 * never a token or a signature. See docs/events.md for each schema.
 */
export const EVENT_SOURCE = 'zoom-token-vault';
export const EVENT_DETAIL_TYPES = {
  userRegistered: 'User Registered',
  grantDead: 'Zoom Grant Dead',
  recallCredentialFailed: 'Recall Credential Failed',
  recallCredentialReplaced: 'Recall Credential Replaced',
  recallCredentialUnhealthy: 'Recall Credential Unhealthy',
  zoomDeauthorized: 'Zoom Deauthorized',
  userDeleted: 'User Deleted',
} as const;
export type EventDetailType = (typeof EVENT_DETAIL_TYPES)[keyof typeof EVENT_DETAIL_TYPES];
/** The version of every detail schema; a breaking change to one bumps it. */
export const EVENT_SCHEMA_VERSION = 1;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/**
 * The functions' timeouts in seconds (see TIMING for why); the handlers derive their deadlines
 * from the remaining time.
 */
export const FUNCTION_TIMEOUT_SECONDS = {
  callback: TIMING.callbackTimeoutMs / 1000,
  botToken: TIMING.callbackTimeoutMs / 1000,
  admin: TIMING.adminTimeoutMs / 1000,
  refresherMax: TIMING.refresherMaxTimeoutMs / 1000,
} as const;

/**
 * esbuild options of every Lambda bundle. scripts/build-handlers.ts is the one build that uses
 * them, for the stack's synth, the tests, the bench and the packed package alike, so the
 * measured and tested bundle is the deployed one.
 */
export const BUNDLING = {
  format: 'esm',
  target: 'node22',
  platform: 'node',
  minify: true,
  // Minifying renames classes; keep their names so logged error names stay readable.
  keepNames: true,
  sourceMap: true,
  // Stack traces map to file:line without shipping the sources in the zip.
  sourcesContent: false,
  mainFields: ['module', 'main'],
  // Bundled CommonJS dependencies still call require(); ESM has none, so provide one.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
} as const;

/**
 * Every bundle is built twice: without the Powertools Tracer and the X-Ray SDK under it, and
 * with them. A function's `tracing` setting picks which one it deploys.
 */
export const BUNDLE_VARIANTS = {
  plain: { tracer: false },
  traced: { tracer: true },
} as const;
export type BundleVariant = keyof typeof BUNDLE_VARIANTS;
/**
 * The expression the build defines as 'true' or 'false' per variant; functions/handlers/tracing.ts
 * loads the Tracer only in a branch guarded by it, which is dead code (and not bundled) at 'false'.
 */
export const TRACER_BUNDLED = 'process.env.ZOOM_TOKEN_VAULT_TRACER_BUNDLED';
