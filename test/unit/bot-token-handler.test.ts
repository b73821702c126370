/**
 * The bot-token handler built by its factory with in-memory ports: each route mints its own
 * kind; every refusal is the callback's one 403; no token can be minted → 404 and a reason code;
 * Zoom failing → 503 with Retry-After; metrics count tokens by kind and failures by reason; no
 * token reaches a log line.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { BOT_TOKEN_PATHS, type BotTokenKind } from '../../functions/contract';
import { signBotTokenUrl, signCallbackUrl } from '../../functions/domain/signing';
import { makeBotTokenHandler } from '../../functions/handlers/bot-token';
import { makeCallbackHandler } from '../../functions/handlers/callback';
import { InMemoryZoomApi, World } from '../support/in-memory';
import { recordingObservability } from '../support/recording-observability';
import { NEW_KEYRING, OLD_KEYRING, rotatingKeys } from '../support/rotating-keys';

const SCOPES = 'user:read:user user:read:token user:read:zak meeting:read:local_recording_token';
const OLD = OLD_KEYRING;
const NEW = NEW_KEYRING;
const BASE = 'https://vault.example';

async function setup(scope = SCOPES) {
  const world = new World();
  const zoomApi = new InMemoryZoomApi(world.zoom);
  const { user, grant } = await world.seedUser('alice', 3600, scope);
  const meetingId = zoomApi.createMeeting(grant.zoomUserId);
  const signingKeys = rotatingKeys();
  const { logger, metrics, logged, published } = recordingObservability();
  const common = { logger, metrics, publishMetrics: true, store: world.store, cipher: world.cipher, clock: world.clock.clock };
  const deps = {
    ...common,
    policy: { kind: 'proactive' as const },
    refreshQueue: world.queue,
    signingKeys,
    zoomApi,
    sleep: async (ms: number) => {
      await world.queue.drain();
      world.clock.advance(ms);
    },
  };
  const handler = makeBotTokenHandler(deps);
  const callback = makeCallbackHandler(deps);
  const context = { getRemainingTimeInMillis: () => 20_000 } as Context;
  const call = (url: URL, route: BotTokenKind | 'callback' = kindOf(url)) => {
    const routeKey = route === 'callback' ? 'GET /zoom/token' : `GET ${BOT_TOKEN_PATHS[route]}`;
    const event = {
      routeKey,
      headers: {},
      queryStringParameters: Object.fromEntries(url.searchParams),
    } as unknown as APIGatewayProxyEventV2;
    return (route === 'callback' ? callback : handler)(event, context);
  };
  const exp = Math.floor(world.clock.now() / 1000) + 3600;
  const urlFor = (kind: BotTokenKind, keyring = OLD, meeting = meetingId) =>
    signBotTokenUrl(`${BASE}${BOT_TOKEN_PATHS[kind]}`, kind, { ...user, meetingId: meeting, expiresAtSeconds: exp }, keyring);
  return { world, zoomApi, user, grant, signingKeys, call, urlFor, logged, published };
}

function kindOf(url: URL): BotTokenKind {
  const kind = (Object.keys(BOT_TOKEN_PATHS) as BotTokenKind[]).find((k) => BOT_TOKEN_PATHS[k] === url.pathname);
  return kind ?? 'obf';
}

const dimensionsOf = (blob: Record<string, unknown>) =>
  (blob._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics[0];

test.each(['obf', 'zak', 'join_token'] as const)(
  'GET of a %s URL: 200, the token alone as plain text, uncached, counted by kind',
  async (kind) => {
    // Prepare
    const { call, urlFor, zoomApi, published } = await setup();

    // Act
    const answer = await call(urlFor(kind));

    // Assess
    expect(answer.statusCode).toBe(200);
    expect(answer.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    expect(zoomApi.use(answer.body!)).toBe(true);
    expect(zoomApi.calls.map((c) => c.kind)).toEqual([kind]);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ BotTokensMinted: 1, kind, service: 'test' });
    expect(dimensionsOf(published[0]).Dimensions).toEqual([['service', 'kind']]);
  },
);

describe("every refusal is the callback's one 403", () => {
  const tamper = (url: URL, name: string, value: string) => {
    const copy = new URL(url);
    copy.searchParams.set(name, value);
    return copy;
  };

  it.each<[string, (s: Awaited<ReturnType<typeof setup>>) => Promise<Parameters<Awaited<ReturnType<typeof setup>>['call']>>]>([
    ['a forged signature', async ({ urlFor }) => [tamper(urlFor('obf'), 'sig', 'A'.repeat(43))]],
    ['another meeting id', async ({ urlFor }) => [tamper(urlFor('obf'), 'meeting_id', '85746065499')]],
    ['a later expiry', async ({ urlFor }) => [tamper(urlFor('obf'), 'exp', String(Number(urlFor('obf').searchParams.get('exp')) + 60))]],
    ['an OBF URL on the ZAK route', async ({ urlFor }) => [urlFor('obf'), 'zak']],
    ['a callback URL on the OBF route', async ({ user }) => [signCallbackUrl(`${BASE}/zoom/obf`, user, OLD), 'obf']],
    ['no parameters at all', async () => [new URL(`${BASE}/zoom/obf`), 'obf']],
    [
      'an expired URL',
      async ({ urlFor, world }) => {
        const url = urlFor('zak');
        world.clock.advance(3600_000);
        return [url];
      },
    ],
    [
      'a deleted user',
      async ({ urlFor, world }) => {
        await world.store.delete('alice');
        return [urlFor('obf')];
      },
    ],
    [
      'a user registered again since the URL was issued',
      async ({ urlFor, world }) => {
        const url = urlFor('obf');
        await world.store.delete('alice');
        await world.seedUser('alice', 3600, SCOPES);
        return [url];
      },
    ],
  ])('%s', async (_name, prepare) => {
    // Prepare
    const setupResult = await setup();
    const forgedCallback = new URL(signCallbackUrl(`${BASE}/zoom/token`, setupResult.user, OLD));
    forgedCallback.searchParams.set('sig', 'A'.repeat(43));
    const args = await prepare(setupResult);

    // Act
    const answer = await setupResult.call(...args);
    const callbackRefusal = await setupResult.call(forgedCallback, 'callback');

    // Assess
    expect(answer).toEqual(callbackRefusal);
    expect(answer.statusCode).toBe(403);
    expect(setupResult.zoomApi.calls).toEqual([]);
    // A refusal is no operator's business: the breakdown only, no BotTokenErrors.
    expect(setupResult.published[0]).toMatchObject({ BotTokenFailures: 1, reason: 'refused' });
    expect(setupResult.published[0]).not.toHaveProperty('BotTokenErrors');
    expect(setupResult.published[1]).toMatchObject({ CallbackRefused: 1 });
  });
});

test('a URL signed with a key newer than the cached keyring: minted after one fresh read (the seam the callback uses)', async () => {
  // Prepare
  const { call, urlFor, signingKeys } = await setup();

  // Act
  const answer = await call(urlFor('zak', NEW));

  // Assess
  expect(answer.statusCode).toBe(200);
  expect(signingKeys.freshReads).toBe(1);
});

test.each<[string, (s: Awaited<ReturnType<typeof setup>>) => Promise<URL>, string]>([
  [
    'a dead grant',
    async ({ world, user, urlFor }) => {
      await world.store.update('alice', { registrationId: user.registrationId, version: user.version }, { status: 'reauth_required' });
      return urlFor('obf');
    },
    'reauth_required',
  ],
  ['a meeting Zoom does not know', async ({ urlFor }) => urlFor('join_token', OLD, '99999999999'), 'meeting_not_found'],
])('no token can be minted (%s): 404 and a short reason code', async (_name, prepare, reason) => {
  // Prepare
  const s = await setup();
  const url = await prepare(s);

  // Act
  const answer = await s.call(url);

  // Assess
  expect(answer.statusCode).toBe(404);
  expect(answer.body).toBe(reason);
  expect(s.published).toEqual([expect.objectContaining({ BotTokenFailures: 1, reason })]);
});

test("a kind whose scope Zoom's token response left out: 404 scope_missing, Zoom not called", async () => {
  // Prepare
  const { call, urlFor, zoomApi } = await setup('user:read:zak');

  // Act
  const answer = await call(urlFor('obf'));

  // Assess
  expect([answer.statusCode, answer.body]).toEqual([404, 'scope_missing']);
  expect(zoomApi.calls).toEqual([]);
});

test("Zoom throttling after the bounded retry: 503 with Zoom's Retry-After", async () => {
  // Prepare
  const { call, urlFor, zoomApi, published } = await setup();
  zoomApi.failNext({ status: 429, body: '{"code":429}', retryAfterMs: 7_000 }, 3);

  // Act
  const answer = await call(urlFor('obf'));

  // Assess
  expect([answer.statusCode, answer.body, answer.headers['retry-after']]).toEqual([503, 'zoom_unavailable', '7']);
  expect(zoomApi.calls).toHaveLength(3);
  // The alarm's metric without the reason, then the breakdown by reason.
  expect(published).toHaveLength(2);
  expect(published[0]).toMatchObject({ BotTokenErrors: 1 });
  expect(published[0]).not.toHaveProperty('reason');
  expect(dimensionsOf(published[0]).Dimensions).toEqual([['service']]);
  expect(published[1]).toMatchObject({ BotTokenFailures: 1, reason: 'zoom_unavailable' });
  expect(published[1]).not.toHaveProperty('BotTokenErrors');
});

test('no live access token within the budget (the workers stopped): 503 refresh_in_progress, Retry-After 5', async () => {
  // Prepare
  const s = await setup();
  await s.world.store.update(
    'alice',
    { registrationId: s.user.registrationId, version: s.user.version },
    { status: 'active', accessTokenExpiresAt: s.world.clock.now() + 10_000 },
  );
  s.world.queue.paused = true;

  // Act
  const answer = await s.call(s.urlFor('zak'));

  // Assess
  expect([answer.statusCode, answer.body, answer.headers['retry-after']]).toEqual([503, 'refresh_in_progress', '5']);
  expect(s.world.zoom.stats.refreshCalls).toBe(0);
});

test('a storage failure: 500, counted as internal_error, logged as an error', async () => {
  // Prepare
  const s = await setup();
  jest.spyOn(s.world.store, 'get').mockRejectedValue(new Error('DynamoDB unavailable'));

  // Act
  const answer = await s.call(s.urlFor('obf'));

  // Assess
  expect([answer.statusCode, answer.body]).toEqual([500, 'internal error']);
  expect(s.published.map((blob) => Object.keys(blob).filter((key) => key.startsWith('BotToken')))).toEqual([
    ['BotTokenErrors'],
    ['BotTokenFailures'],
  ]);
  expect(s.published[1]).toMatchObject({ reason: 'internal_error' });
});

test('no token or signature in any log line, minted or refused', async () => {
  // Prepare
  const s = await setup();
  const url = s.urlFor('obf');
  const bad = new URL(url);
  bad.searchParams.set('meeting_id', '85746065499');

  // Act
  const minted = await s.call(url);
  await s.call(bad);

  // Assess
  const text = JSON.stringify(s.logged);
  expect(text).toContain('bot token minted');
  expect(text).toContain('bot token not minted');
  for (const secret of [minted.body!, s.grant.tokens.accessToken, url.searchParams.get('sig')!]) expect(text).not.toContain(secret);
});
