/**
 * Builds the adapters a handler needs from its environment. Each handler calls these at module
 * scope, so clients and caches live once per container and a missing variable fails the cold
 * start with its name. The local runtime sets the same variables (plus the SDK's standard
 * AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_KMS), so locally only the endpoints differ.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { integerEnv, optionalEnv, requiredEnv, secretSourceEnv, urlEnv } from '../config';
import { DynamoTokenStore } from '../adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../adapters/kms-envelope-cipher';
import { createRecallClient } from '../adapters/recall-client';
import { secretReader, signingKeyProvider } from '../adapters/secrets';
import { createZoomTokenClient } from '../adapters/zoom-client';
import type { RecallClient, SigningKeyProvider, ZoomTokenClient } from '../domain/ports';
import type { RefreshOutcome } from '../domain/refresh';

export const SERVICE_NAME = 'zoom-token-vault';

export function createLogger(): Logger {
  return new Logger({ serviceName: optionalEnv('POWERTOOLS_SERVICE_NAME', SERVICE_NAME) });
}

export function createMetrics(): Metrics {
  return new Metrics({
    namespace: optionalEnv('POWERTOOLS_METRICS_NAMESPACE', 'ZoomTokenVault'),
    serviceName: optionalEnv('POWERTOOLS_SERVICE_NAME', SERVICE_NAME),
  });
}

/** Refresh outcomes an operator must hear about, as the metrics the stack's alarms watch. */
const OUTCOME_METRICS: Partial<Record<RefreshOutcome['kind'], string>> = {
  refreshed: 'InlineRefreshes',
  grant_dead: 'GrantsDead',
  misconfigured: 'ZoomMisconfigured',
  unsaved: 'RefreshResultUnsaved',
};

export function countRefreshOutcomes(metrics: Metrics): (outcome: RefreshOutcome['kind']) => void {
  return (outcome) => {
    const name = OUTCOME_METRICS[outcome];
    if (name) metrics.addMetric(name, MetricUnit.Count, 1);
  };
}

/**
 * SDK calls never hang a function: a DynamoDB or KMS call that takes longer than this is
 * abandoned and retried (the SDK's standard retry, at most 3 attempts).
 */
const AWS_CLIENT_OPTIONS = { maxAttempts: 3, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } };

export function tokenStoreFromEnv(): DynamoTokenStore {
  return new DynamoTokenStore({
    client: new DynamoDBClient(AWS_CLIENT_OPTIONS),
    tableName: requiredEnv('TABLE_NAME'),
    dueIndexName: optionalEnv('DUE_INDEX_NAME', 'due-index'),
    dueShards: integerEnv('DUE_SHARDS', 8, { min: 1, max: 256 }),
  });
}

export function cipherFromEnv(): KmsEnvelopeCipher {
  return new KmsEnvelopeCipher({ kms: new KMSClient(AWS_CLIENT_OPTIONS), keyId: requiredEnv('KMS_KEY_ID') });
}

export function zoomClientFromEnv(): ZoomTokenClient {
  return createZoomTokenClient({
    tokenUrl: urlEnv('ZOOM_TOKEN_URL', 'https://zoom.us/oauth/token'),
    clientId: requiredEnv('ZOOM_CLIENT_ID'),
    clientSecret: secretReader(secretSourceEnv('ZOOM_CLIENT_SECRET', 'ZOOM_CLIENT_SECRET_SECRET_ID')),
  });
}

export function signingKeysFromEnv(): SigningKeyProvider {
  const file = process.env.SIGNING_KEYS_FILE?.trim();
  return signingKeyProvider(file ? { file } : { secretId: requiredEnv('SIGNING_KEYS_SECRET_ID') });
}

/**
 * Recall clients sharing one configuration (and the API key's cache), each with its own hard stop:
 * a request's clients stop where that request's time runs out. Making one is cheap (config only).
 */
export function recallClientsFromEnv(): (deadline?: () => number | undefined) => RecallClient {
  const config = {
    baseUrl: urlEnv('RECALL_API_BASE_URL', 'https://us-east-1.recall.ai'),
    apiKey: secretReader(secretSourceEnv('RECALL_API_KEY', 'RECALL_API_KEY_SECRET_ID')),
    timeoutMs: integerEnv('RECALL_TIMEOUT_MS', 10_000, { min: 100, max: 25_000 }),
    budgetMs: integerEnv('RECALL_BUDGET_MS', 25_000, { min: 100, max: 28_000 }),
  };
  return (deadline) => createRecallClient({ ...config, deadline });
}
