/**
 * Composition roots: the environment parsed once into typed settings, and the adapters each
 * function needs built from them. A Lambda entry (functions/lambda/*.ts) calls these with
 * `process.env` at module scope, so clients and caches live once per container and a missing
 * variable fails the cold start with its name. The local runtime and the tests call them with
 * an environment of their own: nothing here reads or writes the global environment unless
 * handed it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ConfigError, type Env, integerEnv, optionalEnv, requiredEnv, secretSourceEnv, urlEnv } from '../config';
import {
  ADAPTIVE_ACTIVE_DAYS,
  ADAPTIVE_KEEPALIVE_HOURS,
  BOT_TOKEN_KINDS,
  BOT_TOKEN_PATHS,
  type BotTokenKind,
  CALLBACK_PATH,
  DISPATCH_MAX_USERS,
  DUE_SHARDS,
  ENV,
  METRICS_NAMESPACE,
  RECALL_SIGNATURE_MODES,
  type RecallSignatureMode,
  REFRESH_POLICIES,
  REFRESH_WINDOW_SECONDS,
  SERVICE_NAME,
  TABLE_SCHEMA,
} from '../contract';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { AWS_CLIENT_OPTIONS } from '../adapters/aws-client-options';
import { DynamoTokenReader } from '../adapters/dynamo-token-reader';
import { DynamoTokenStore } from '../adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../adapters/kms-envelope-cipher';
import { KmsEnvelopeOpener } from '../adapters/kms-envelope-opener';
import { createRecallClient } from '../adapters/recall-client';
import { recallVerificationKeyReader, secretReader, signingKeyProvider } from '../adapters/secrets';
import { SqsRefreshQueue } from '../adapters/sqs-refresh-queue';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { noEventPublisher, reliablePublisher, webhookEventPublisher } from '../adapters/event-publishers';
import { createZoomApiClient } from '../adapters/zoom-api-client';
import { createZoomTokenClient } from '../adapters/zoom-client';
import { loadTracer } from './tracing';
import { PROACTIVE, type RefreshPolicy } from '../domain/refresh-policy';
import { parseRecallVerificationSecrets, type RecallSignatureSettings } from '../domain/recall-signature';
import type {
  Clock,
  EventPublisher,
  RecallClient,
  RefreshQueue,
  SigningKeyProvider,
  TokenCipher,
  TokenOpener,
  TokenReader,
  TokenStore,
  ZoomApiClient,
  ZoomTokenClient,
} from '../domain/ports';

/**
 * What the functions that open tokens share (the callback, the admin API, the refresh workers):
 * logging, metrics, the store, the cipher, a clock and the refresh policy. Only the workers talk
 * to Zoom (WorkerDeps): the others get no Zoom client and need no Zoom settings.
 */
export interface ServiceDeps {
  logger: Logger;
  metrics: Metrics;
  /** False locally unless asked for: metrics are then counted but not printed. */
  publishMetrics: boolean;
  /** X-Ray through Powertools; absent or disabled, handlers run untraced. */
  tracer?: Tracer;
  store: TokenStore;
  cipher: TokenCipher;
  clock: Clock;
  policy: RefreshPolicy;
}

/** Where served tokens close to expiry are handed for a refresh. */
interface QueueDeps {
  refreshQueue: RefreshQueue;
}

/** What a public token route checks a request with: its URL's HMAC, and Recall's signature when configured. */
interface SignedRequestSettings {
  signingKeys: SigningKeyProvider;
  /** Absent: no Recall verification secret configured, Recall's signature is not checked. */
  recallSignatures?: RecallSignatureSettings;
}

/**
 * What serving a token needs: reading a user's record and opening its tokens (never writing
 * either: the workers do), the refresh queue and the request checks. Each function's bundle holds
 * what its composition builds, so the public token routes carry no write path.
 */
export interface TokenServingDeps
  extends Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'tracer' | 'clock' | 'policy'>,
    QueueDeps,
    SignedRequestSettings {
  store: TokenReader;
  cipher: TokenOpener;
}

export type CallbackDeps = TokenServingDeps;

/**
 * The bot-token routes: what serving a token needs and Zoom's REST API; never Zoom's OAuth
 * client or its secret (only the refresh workers spend refresh tokens).
 */
export interface BotTokenFunctionDeps extends TokenServingDeps {
  zoomApi: ZoomApiClient;
}

/** Where lifecycle events go (never throws: retried, counted, logged). */
interface EventDeps {
  events: EventPublisher;
}

/** Recall clients that stop where an invocation's time runs out (`deadline`, ms since the epoch). */
type RecallUntil = (deadline?: () => number | undefined) => RecallClient;

export interface AdminDeps extends ServiceDeps, QueueDeps, EventDeps {
  signingKeys: SigningKeyProvider;
  /** Recall clients that stop where a request's time runs out (`deadline`, ms since the epoch). */
  recallUntil: RecallUntil;
  /** The callback route's URL handed to Recall (signed per user). */
  callbackUrl: string;
  /** Each bot-token route's URL (signed per user, meeting and expiry). */
  botTokenUrls: Readonly<Record<BotTokenKind, string>>;
  oauthAppId: string;
}

export interface WorkerDeps extends ServiceDeps, EventDeps {
  zoom: ZoomTokenClient;
  /** A requested user is refreshed unless its token lives this far past now. */
  windowMs: number;
}

export interface DispatcherDeps
  extends Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'tracer' | 'store' | 'clock'>,
    QueueDeps {
  windowMs: number;
  maxUsers: number;
}

type BaseDeps = Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'store' | 'clock'>;

export interface RecallHealthFunctionDeps extends BaseDeps, EventDeps {
  recallUntil: RecallUntil;
  oauthAppId: string;
}

export interface ZoomEventsDeps extends BaseDeps, EventDeps {
  /** Zoom's webhook secret token (Secrets Manager in AWS, cached; the value itself locally). */
  secretToken: () => Promise<string>;
  recallUntil: RecallUntil;
  /** Deauthorizations naming another Zoom app's client id are ignored (when both are known). */
  zoomClientId?: string;
}

/** What the local runtime brings instead of AWS's own: its in-process refresh queue. */
export interface LocalOverrides {
  refreshQueue?: RefreshQueue;
}

/**
 * The SDK's own settings, taken from `env` rather than the global environment: region,
 * credentials and the standard per-service endpoint variable (AWS_ENDPOINT_URL_DYNAMODB, …).
 * In Lambda these are the variables the SDK would read anyway.
 */
function awsClientConfig(env: Env, service: 'DYNAMODB' | 'KMS' | 'SQS' | 'EVENTBRIDGE') {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  const {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  return {
    ...AWS_CLIENT_OPTIONS,
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
  };
}

/** Set 'true' by the stack when tracing is on (Lambda active tracing); off locally and by default. */
const TRACE_ENABLED_ENV = 'POWERTOOLS_TRACE_ENABLED';

function observabilityFromEnv(env: Env): Pick<ServiceDeps, 'logger' | 'metrics' | 'publishMetrics' | 'tracer'> {
  const serviceName = optionalEnv(ENV.serviceName, SERVICE_NAME, env);
  const tracingEnabled = optionalEnv(TRACE_ENABLED_ENV, 'false', env) === 'true';
  const logger = new Logger({ serviceName, logLevel: optionalEnv('POWERTOOLS_LOG_LEVEL', 'INFO', env).toUpperCase() as LogLevel });
  return {
    logger,
    metrics: new Metrics({ namespace: optionalEnv(ENV.metricsNamespace, METRICS_NAMESPACE, env), serviceName, logger }),
    publishMetrics: optionalEnv('POWERTOOLS_METRICS_DISABLED', 'false', env) !== 'true',
    // Outgoing HTTPS calls (Zoom, Recall) are traced too; both record timings, never bodies.
    ...(tracingEnabled ? { tracer: loadTracer(serviceName) } : {}),
  };
}

/** Reads only (GetItem): the public token routes. */
function tokenReaderFromEnv(env: Env): DynamoTokenReader {
  return new DynamoTokenReader({
    client: new DynamoDBClient(awsClientConfig(env, 'DYNAMODB')),
    tableName: requiredEnv(ENV.tableName, env),
  });
}

export function tokenStoreFromEnv(env: Env): DynamoTokenStore {
  return new DynamoTokenStore({
    client: new DynamoDBClient(awsClientConfig(env, 'DYNAMODB')),
    tableName: requiredEnv(ENV.tableName, env),
    dueIndexName: optionalEnv(ENV.dueIndexName, TABLE_SCHEMA.dueIndex.name, env),
    dueShards: integerEnv(ENV.dueShards, DUE_SHARDS.default, DUE_SHARDS, env),
  });
}

/** Opens only (Decrypt): the public token routes. */
function openerFromEnv(env: Env): KmsEnvelopeOpener {
  return new KmsEnvelopeOpener({ kms: new KMSClient(awsClientConfig(env, 'KMS')), keyId: requiredEnv(ENV.kmsKeyId, env) });
}

export function cipherFromEnv(env: Env): KmsEnvelopeCipher {
  return new KmsEnvelopeCipher({ kms: new KMSClient(awsClientConfig(env, 'KMS')), keyId: requiredEnv(ENV.kmsKeyId, env) });
}

function zoomClientFromEnv(env: Env): ZoomTokenClient {
  return createZoomTokenClient({
    tokenUrl: urlEnv(ENV.zoomTokenUrl, 'https://zoom.us/oauth/token', env),
    clientId: requiredEnv(ENV.zoomClientId, env),
    clientSecret: secretReader(secretSourceEnv(ENV.zoomClientSecret, ENV.zoomClientSecretSecretId, env)),
  });
}

function policyFromEnv(env: Env): RefreshPolicy {
  const kind = optionalEnv(ENV.refreshPolicy, 'proactive', env);
  if (kind === 'proactive') return PROACTIVE;
  if (kind !== 'adaptive')
    throw new ConfigError(`Environment variable ${ENV.refreshPolicy} must be one of ${REFRESH_POLICIES.join(', ')}, got "${kind}"`);
  return {
    kind,
    activeMs: integerEnv(ENV.adaptiveActiveDays, ADAPTIVE_ACTIVE_DAYS.default, ADAPTIVE_ACTIVE_DAYS, env) * 24 * 3600_000,
    keepAliveMs: integerEnv(ENV.adaptiveKeepAliveHours, ADAPTIVE_KEEPALIVE_HOURS.default, ADAPTIVE_KEEPALIVE_HOURS, env) * 3600_000,
  };
}

function serviceDepsFromEnv(env: Env): ServiceDeps {
  return {
    ...observabilityFromEnv(env),
    store: tokenStoreFromEnv(env),
    cipher: cipherFromEnv(env),
    clock: Date.now,
    policy: policyFromEnv(env),
  };
}

function refreshQueueFromEnv(env: Env, overrides: LocalOverrides): RefreshQueue {
  if (overrides.refreshQueue) return overrides.refreshQueue;
  return new SqsRefreshQueue({ client: () => new SQSClient(awsClientConfig(env, 'SQS')), queueUrl: requiredEnv(ENV.refreshQueueUrl, env) });
}

function windowMsFromEnv(env: Env): number {
  return integerEnv(ENV.refreshWindowSeconds, REFRESH_WINDOW_SECONDS.default, REFRESH_WINDOW_SECONDS, env) * 1000;
}

function signingKeysFromEnv(env: Env): SigningKeyProvider {
  const file = env[ENV.signingKeysFile]?.trim();
  return signingKeyProvider(file ? { file } : { secretId: requiredEnv(ENV.signingKeysSecretId, env) });
}

/**
 * The public token routes' checks: the URL's signing keys, and Recall's request signature when a
 * verification secret is configured (its secret id in AWS; the value itself locally, where a
 * malformed one fails the start). Without one, a mode set alone is a mistake: said at once.
 */
function signedRequestSettingsFromEnv(env: Env): SignedRequestSettings {
  const signingKeys = signingKeysFromEnv(env);
  const configured = [ENV.recallVerificationSecretSecretId, ENV.recallVerificationSecret].some((name) => env[name]?.trim());
  if (!configured) {
    if (env[ENV.recallSignatureMode]?.trim())
      throw new ConfigError(`${ENV.recallSignatureMode} is set, but no ${ENV.recallVerificationSecret} to check Recall's signature with`);
    return { signingKeys };
  }
  const mode = optionalEnv(ENV.recallSignatureMode, 'enforce', env) as RecallSignatureMode;
  if (!RECALL_SIGNATURE_MODES.includes(mode))
    throw new ConfigError(
      `Environment variable ${ENV.recallSignatureMode} must be one of ${RECALL_SIGNATURE_MODES.join(', ')}, got "${mode}"`,
    );
  const source = secretSourceEnv(ENV.recallVerificationSecret, ENV.recallVerificationSecretSecretId, env);
  if (source.kind === 'value' && 'unusable' in parseRecallVerificationSecrets(source.ref))
    throw new ConfigError(
      `${ENV.recallVerificationSecret} must be Recall's whsec_… verification secret (two separated by a space while rotating)`,
    );
  return { signingKeys, recallSignatures: { mode, keys: recallVerificationKeyReader(source) } };
}

/**
 * The lifecycle event publisher: EventBridge when EVENT_BUS_NAME is set (AWS), else a webhook
 * when EVENTS_WEBHOOK_URL is (local runtime), else none. Wrapped: never throws, retries, counts
 * EventsPublished / EventsPublishFailed, logs failures.
 */
export function eventPublisherFromEnv(env: Env, observability: Pick<ServiceDeps, 'logger' | 'metrics'>): EventPublisher {
  const { logger, metrics } = observability;
  const bus = env[ENV.eventBusName]?.trim();
  const webhook = env[ENV.eventsWebhookUrl]?.trim();
  let inner: EventPublisher;
  if (bus) inner = new EventBridgePublisher({ client: new EventBridgeClient(awsClientConfig(env, 'EVENTBRIDGE')), eventBusName: bus });
  else if (webhook) inner = webhookEventPublisher({ url: urlEnv(ENV.eventsWebhookUrl, undefined, env), logger });
  else return noEventPublisher;
  return reliablePublisher(inner, { logger, count: (name, value) => metrics.addMetric(name, MetricUnit.Count, value) });
}

/** Recall's API settings; `budgetMs` bounds one client call (all its pages and retries). */
function recallConfigFromEnv(env: Env) {
  return {
    baseUrl: urlEnv(ENV.recallApiBaseUrl, 'https://us-east-1.recall.ai', env),
    apiKey: secretReader(secretSourceEnv(ENV.recallApiKey, ENV.recallApiKeySecretId, env)),
    timeoutMs: integerEnv(ENV.recallTimeoutMs, 10_000, { min: 100, max: 25_000 }, env),
    budgetMs: integerEnv(ENV.recallBudgetMs, 25_000, { min: 100, max: 28_000 }, env),
  };
}

function tokenServingDepsFromEnv(env: Env, overrides: LocalOverrides): TokenServingDeps {
  return {
    ...observabilityFromEnv(env),
    store: tokenReaderFromEnv(env),
    cipher: openerFromEnv(env),
    clock: Date.now,
    policy: policyFromEnv(env),
    refreshQueue: refreshQueueFromEnv(env, overrides),
    ...signedRequestSettingsFromEnv(env),
  };
}

export function callbackDepsFromEnv(env: Env, overrides: LocalOverrides = {}): CallbackDeps {
  return tokenServingDepsFromEnv(env, overrides);
}

export function adminDepsFromEnv(env: Env, overrides: LocalOverrides = {}): AdminDeps {
  const recall = recallConfigFromEnv(env);
  const publicBaseUrl = urlEnv(ENV.publicBaseUrl, undefined, env);
  const service = serviceDepsFromEnv(env);
  return {
    ...service,
    events: eventPublisherFromEnv(env, service),
    signingKeys: signingKeysFromEnv(env),
    refreshQueue: refreshQueueFromEnv(env, overrides),
    // Cheap to make (configuration only); the API key's cache is shared.
    recallUntil: (deadline) => createRecallClient({ ...recall, deadline }),
    callbackUrl: publicBaseUrl + CALLBACK_PATH,
    botTokenUrls: Object.fromEntries(BOT_TOKEN_KINDS.map((kind) => [kind, publicBaseUrl + BOT_TOKEN_PATHS[kind]])) as Record<
      BotTokenKind,
      string
    >,
    oauthAppId: requiredEnv(ENV.recallZoomOAuthAppId, env),
  };
}

export function workerDepsFromEnv(env: Env): WorkerDeps {
  const service = serviceDepsFromEnv(env);
  return { ...service, zoom: zoomClientFromEnv(env), events: eventPublisherFromEnv(env, service), windowMs: windowMsFromEnv(env) };
}

export function recallHealthDepsFromEnv(env: Env): RecallHealthFunctionDeps {
  const observability = observabilityFromEnv(env);
  // Listing is paced (a page a second): one call may take minutes; the invocation's deadline bounds it.
  const recall = { ...recallConfigFromEnv(env), budgetMs: 15 * 60_000 };
  return {
    ...observability,
    store: tokenStoreFromEnv(env),
    clock: Date.now,
    events: eventPublisherFromEnv(env, observability),
    recallUntil: (deadline) => createRecallClient({ ...recall, deadline }),
    oauthAppId: requiredEnv(ENV.recallZoomOAuthAppId, env),
  };
}

export function zoomEventsDepsFromEnv(env: Env): ZoomEventsDeps {
  const observability = observabilityFromEnv(env);
  const recall = recallConfigFromEnv(env);
  const secret = secretReader(secretSourceEnv(ENV.zoomWebhookSecretToken, ENV.zoomWebhookSecretTokenSecretId, env));
  const zoomClientId = env[ENV.zoomClientId]?.trim();
  return {
    ...observability,
    store: tokenStoreFromEnv(env),
    clock: Date.now,
    events: eventPublisherFromEnv(env, observability),
    secretToken: () => secret(),
    recallUntil: (deadline) => createRecallClient({ ...recall, deadline }),
    ...(zoomClientId ? { zoomClientId } : {}),
  };
}

export function dispatcherDepsFromEnv(env: Env, overrides: LocalOverrides = {}): DispatcherDeps {
  return {
    ...observabilityFromEnv(env),
    store: tokenStoreFromEnv(env),
    clock: Date.now,
    refreshQueue: refreshQueueFromEnv(env, overrides),
    windowMs: windowMsFromEnv(env),
    maxUsers: integerEnv(ENV.dispatchMaxUsers, DISPATCH_MAX_USERS.default, DISPATCH_MAX_USERS, env),
  };
}

/** The bot-token function: only what it uses (no Zoom client id or secret, no Recall, no events). */
export function botTokenDepsFromEnv(env: Env, overrides: LocalOverrides = {}): BotTokenFunctionDeps {
  return {
    ...tokenServingDepsFromEnv(env, overrides),
    zoomApi: createZoomApiClient({ baseUrl: urlEnv(ENV.zoomApiBaseUrl, 'https://api.zoom.us/v2', env) }),
  };
}
