/**
 * The callback handler built by its factory with in-memory ports: a URL signed with a key the
 * container's cached keyring does not know yet (the admin function signed it with a rotation's
 * new key) is verified against a fresh keyring read, so registrations never fail for the five
 * minutes the secret is cached.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { RefreshRequest } from '../../functions/domain/ports';
import { signCallbackUrl } from '../../functions/domain/signing';
import type { StoredUser } from '../../functions/domain/token-record';
import { makeCallbackHandler } from '../../functions/handlers/callback';
import { InMemoryCipher } from '../support/in-memory/cipher';
import { InMemoryTokenStore } from '../support/in-memory/token-store';
import { NEW_KEYRING, OLD_KEYRING, rotatingKeys } from '../support/rotating-keys';

const OLD = OLD_KEYRING;
const NEW = NEW_KEYRING;
const NOW = Date.parse('2030-01-01T00:00:00Z');

async function setup() {
  const store = new InMemoryTokenStore();
  const cipher = new InMemoryCipher();
  const user: StoredUser = {
    userId: 'alice',
    registrationId: '5a1d3e0c-0000-4000-8000-000000000001',
    version: 1,
    status: 'active',
    sealed: await cipher.seal(
      { userId: 'alice', registrationId: '5a1d3e0c-0000-4000-8000-000000000001', tokenGeneration: 1 },
      { accessToken: 'alice-access', refreshToken: 'alice-refresh' },
    ),
    accessTokenExpiresAt: NOW + 3_600_000,
    tokenGeneration: 1,
    createdAt: NOW,
    updatedAt: NOW,
    recall: { status: 'registered' },
  };
  await store.create(user);
  const signingKeys = rotatingKeys();
  const queued: RefreshRequest[] = [];
  const handler = makeCallbackHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }),
    publishMetrics: false,
    store,
    cipher,
    clock: () => NOW,
    policy: { kind: 'proactive' },
    signingKeys,
    refreshQueue: { enqueue: async (requests) => void queued.push(...requests) },
  });
  const call = async (url: URL) => {
    const event = { queryStringParameters: Object.fromEntries(url.searchParams) } as unknown as APIGatewayProxyEventV2;
    return handler(event, { getRemainingTimeInMillis: () => 20_000 } as Context);
  };
  return { user, signingKeys, call };
}

test('a URL signed with a key newer than the cached keyring is served after one fresh read', async () => {
  // Prepare
  const { user, signingKeys, call } = await setup();
  const url = signCallbackUrl('https://vault.example/zoom/token', user, NEW);

  // Act
  const answer = await call(url);

  // Assess
  expect(answer.statusCode).toBe(200);
  expect(answer.body).toBe('alice-access');
  expect(signingKeys.freshReads).toBe(1);
});

test('a URL the cached keyring verifies needs no fresh read; a forged one is refused after one', async () => {
  // Prepare
  const { user, signingKeys, call } = await setup();
  const good = signCallbackUrl('https://vault.example/zoom/token', user, OLD);
  const forged = new URL(good);
  forged.searchParams.set('kid', 'k9');

  // Act
  const served = await call(good);
  const refused = await call(forged);

  // Assess
  expect(served.statusCode).toBe(200);
  expect(refused.statusCode).toBe(403);
  expect(signingKeys.freshReads).toBe(1);
});
