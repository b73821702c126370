/**
 * Bot tokens in the domain, with in-memory ports (test/support/in-memory): which kinds a grant
 * can mint, Zoom's answers classified, the freshness rule (the refresh workers, never this path,
 * spend refresh tokens), a 401 for a token believed live (one refresh, one more try, the grant
 * never marked dead here), and the admin API's signed URLs.
 */
import { parseRefreshRequest } from '../../functions/adapters/sqs-refresh-queue';
import { BOT_TOKEN_KINDS } from '../../functions/contract';
import {
  botTokenCapabilities,
  classifyZoomApiAnswer,
  issueBotTokenUrls,
  MissingScopeError,
  mintableKinds,
  mintBotToken,
  missingScope,
  NoBotTokenError,
  type BotTokenDeps,
  type BotTokenRequest,
  ZoomApiUnavailableError,
} from '../../functions/domain/bot-tokens';
import { NotFoundError, TokenUnavailableError } from '../../functions/domain/errors';
import { parseKeyring, verifyBotTokenSignature } from '../../functions/domain/signing';
import { TIMING } from '../../functions/domain/timing';
import { botTokenParamsOf } from '../support/bot-token-urls';
import { InMemoryZoomApi, World } from '../support/in-memory';

const ALL_SCOPES = 'user:read:user user:read:token user:read:zak meeting:read:local_recording_token';
const BUDGET = TIMING.answerBudgetMs;

let world: World;
let zoomApi: InMemoryZoomApi;

beforeEach(() => {
  world = new World();
  zoomApi = new InMemoryZoomApi(world.zoom);
});

/** The bot-token path's dependencies; each poll lets the workers finish first (they are quick here), then moves the clock. */
function deps(): BotTokenDeps {
  return {
    ...world.serveDeps('bot'),
    zoomApi,
    sleep: async (ms) => {
      await world.queue.drain();
      world.clock.advance(ms);
    },
  };
}

async function seed(userId: string, lifeSeconds = 3600, scope = ALL_SCOPES) {
  const seeded = await world.seedUser(userId, lifeSeconds, scope);
  const meetingId = zoomApi.createMeeting(seeded.grant.zoomUserId);
  const request = (kind: BotTokenRequest['kind']): BotTokenRequest => ({
    kind,
    userId,
    registrationId: seeded.user.registrationId,
    meetingId,
  });
  return { ...seeded, meetingId, request };
}

const mint = (request: BotTokenRequest) => mintBotToken(request, deps(), { deadline: world.clock.now() + BUDGET });

describe('which kinds a grant can mint', () => {
  it.each([
    ['every bot scope', ALL_SCOPES, ['obf', 'zak', 'join_token']],
    ['ZAK only', 'user:read:user user:read:zak', ['zak']],
    ['classic user:read (OBF and ZAK, not the join token)', 'user:read meeting:read', ['obf', 'zak']],
    ['account-level scopes', 'user:read:token:admin meeting:read:local_recording_token:admin', ['obf', 'join_token']],
    ['no scopes named by Zoom: Zoom decides at the mint', undefined, ['obf', 'zak', 'join_token']],
  ])('%s', (_name, scope, kinds) => {
    expect(mintableKinds({ status: 'active' }, scope)).toEqual(kinds);
  });

  it('a dead or removed grant mints nothing; a missing scope is named by its granular name', () => {
    expect(mintableKinds({ status: 'reauth_required' }, ALL_SCOPES)).toEqual([]);
    expect(mintableKinds({ status: 'deauthorized' }, undefined)).toEqual([]);
    expect(missingScope('join_token', 'user:read:zak')).toBe('meeting:read:local_recording_token');
    expect(missingScope('obf', '')).toBeUndefined();
  });
});

describe("Zoom's answers, classified", () => {
  const json = (status: number, body: object, retryAfterMs?: number) => ({ status, body: JSON.stringify(body), retryAfterMs });

  it.each([
    ['200 with a token', json(200, { token: 'obf-1' }), { kind: 'token', token: 'obf-1' }],
    ['200 without a token', json(200, {}), { kind: 'retry', cause: 'invalid_answer', status: 200 }],
    ['401 code 124', json(401, { code: 124, message: 'Invalid access token.' }), { kind: 'retry', cause: 'access_token_rejected' }],
    ['429 with Retry-After', json(429, { code: 429 }, 2000), { kind: 'retry', cause: 'throttled', retryAfterMs: 2000 }],
    ['503', json(503, { message: 'down' }), { kind: 'retry', cause: 'zoom_error', status: 503 }],
    [
      '400 code 4711',
      json(400, { code: 4711, message: 'Invalid access token, does not contain scopes:[x]' }),
      { kind: 'unavailable', reason: 'scope_missing' },
    ],
    [
      '404 code 3001',
      json(404, { code: 3001, message: 'Meeting does not exist: 1.' }),
      { kind: 'unavailable', reason: 'meeting_not_found' },
    ],
    ['403 code 200 (no permission)', json(403, { code: 200 }), { kind: 'unavailable', reason: 'zoom_refused', code: 200 }],
    ['400 that is not JSON', { status: 400, body: '<html>' }, { kind: 'unavailable', reason: 'zoom_refused', status: 400 }],
    ['no answer in time', { failure: 'timeout' as const }, { kind: 'retry', cause: 'timeout' }],
  ])('%s', (_name, answer, expected) => {
    expect(classifyZoomApiAnswer(answer)).toMatchObject(expected);
  });

  it("keeps Zoom's numbered code, never its words", () => {
    const result = classifyZoomApiAnswer(json(404, { code: 3001, message: 'Meeting does not exist: 85746065432.' }));
    expect(JSON.stringify(result)).not.toContain('Meeting does not exist');
  });
});

describe('minting', () => {
  it.each(BOT_TOKEN_KINDS)('mints a %s token with the stored access token, a new one on every call', async (kind) => {
    // Prepare
    const { request, grant } = await seed('alice');

    // Act
    const first = await mint(request(kind));
    const second = await mint(request(kind));

    // Assess
    expect(first).not.toBe(second);
    expect(zoomApi.mints(kind)).toBe(2);
    expect(zoomApi.calls.map((call) => call.accessToken)).toEqual([grant.tokens.accessToken, grant.tokens.accessToken]);
    expect([zoomApi.use(first), zoomApi.use(first), zoomApi.use(second)]).toEqual([true, false, true]);
    expect(world.zoom.stats.refreshCalls).toBe(0);
  });

  it('a token with under a minute left: the workers refresh it, the request waits for them and mints with the new token', async () => {
    // Prepare
    const { request, grant } = await seed('alice', 30);

    // Act
    const token = await mint(request('obf'));

    // Assess
    expect(token).toMatch(/^obf:/);
    const { tokens } = await world.stored('alice');
    expect(zoomApi.calls.map((call) => call.accessToken)).toEqual([tokens.accessToken]);
    expect(tokens.accessToken).not.toBe(grant.tokens.accessToken);
    expect(world.queue.requests).toEqual([{ userId: 'alice', reason: 'serve' }]);
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
  });

  it('a token with a few minutes left is used at once; a refresh is asked for, not awaited', async () => {
    // Prepare
    const { request, grant } = await seed('alice', 200);
    world.queue.paused = true;

    // Act
    await mint(request('zak'));

    // Assess
    expect(zoomApi.calls.map((call) => call.accessToken)).toEqual([grant.tokens.accessToken]);
    expect(world.queue.requests).toEqual([{ userId: 'alice', reason: 'serve' }]);
  });

  it('never spends a refresh token itself: with the workers stopped, an expired token ends in no token at the deadline', async () => {
    // Prepare
    const { request } = await seed('alice', 10);
    world.queue.paused = true;
    const started = world.clock.now();

    // Act
    const answer = mint(request('obf'));

    // Assess
    await expect(answer).rejects.toMatchObject({ name: 'TokenUnavailableError', reason: 'refresh_in_progress' });
    expect(world.clock.now() - started).toBeLessThanOrEqual(BUDGET);
    expect(world.zoom.stats.refreshCalls).toBe(0);
    expect(zoomApi.calls).toEqual([]);
  });

  it('a 401 for a token believed live: the workers refresh that token, one more try mints with the new one', async () => {
    // Prepare: Zoom stops taking the token a minute after it was issued.
    const { request, grant } = await seed('alice');
    world.clock.advance(60_000);
    world.zoom.invalidateAccessTokens(grant.zoomUserId);

    // Act
    const token = await mint(request('obf'));

    // Assess
    expect(token).toMatch(/^obf:/);
    const { tokens, user } = await world.stored('alice');
    expect(zoomApi.calls.map((call) => [call.accessToken, call.result.kind])).toEqual([
      [grant.tokens.accessToken, 'retry'],
      [tokens.accessToken, 'token'],
    ]);
    expect(world.queue.requests).toEqual([{ userId: 'alice', reason: 'rejected', rejectedExpiresAt: grant.accessTokenExpiresAt }]);
    expect(user.status).toBe('active');
    expect(world.zoom.stats.refreshOk).toBe(1);
  });

  it('two requests rejected with the same token cost one refresh', async () => {
    // Prepare
    const { request, grant } = await seed('alice');
    world.clock.advance(60_000);
    world.zoom.invalidateAccessTokens(grant.zoomUserId);

    // Act
    const tokens = await Promise.all([mint(request('obf')), mint(request('zak'))]);
    await world.queue.drain();

    // Assess: the other worker found the lease held or the newer token; only one refresh token spent.
    expect(new Set(tokens).size).toBe(2);
    expect(world.queue.requests.map((r) => r.reason)).toEqual(['rejected', 'rejected']);
    expect(world.zoom.stats.refreshOk).toBe(1);
    expect(world.queue.outcomeKinds()).toEqual([expect.stringMatching(/^(fresh|lease_held)$/), 'refreshed']);
  });

  it('a 401 and the workers find the grant dead: no token (reauth_required), marked dead by the workers alone', async () => {
    // Prepare
    const { request, grant } = await seed('alice');
    world.zoom.invalidateAccessTokens(grant.zoomUserId);
    world.zoom.revoke(grant.zoomUserId);

    // Act
    const answer = mint(request('obf'));

    // Assess
    await expect(answer).rejects.toMatchObject({ name: 'TokenUnavailableError', reason: 'reauth_required' });
    expect(world.queue.outcomeKinds()).toEqual(['grant_dead']);
    expect(world.store.writes.map((write) => write.actor)).not.toContain('bot');
  });

  it('a 401 while the workers are stopped: no token at the deadline (503), the grant left as it was', async () => {
    // Prepare
    const { request, grant } = await seed('alice');
    world.zoom.invalidateAccessTokens(grant.zoomUserId);
    world.queue.paused = true;

    // Act
    const answer = mint(request('obf'));

    // Assess
    await expect(answer).rejects.toMatchObject({ reason: 'refresh_in_progress' });
    expect(zoomApi.calls).toHaveLength(1);
    expect((await world.stored('alice')).user.status).toBe('active');
  });

  it("a scope Zoom's token response left out: no call to Zoom, the scope named", async () => {
    // Prepare
    const { request } = await seed('alice', 3600, 'user:read:user user:read:zak');

    // Act
    const answer = mint(request('obf'));

    // Assess
    await expect(answer).rejects.toBeInstanceOf(MissingScopeError);
    await expect(answer).rejects.toMatchObject({ reason: 'scope_missing', scope: 'user:read:token' });
    expect(zoomApi.calls).toEqual([]);
  });

  it('no scopes named: Zoom decides (4711 → scope_missing); an unknown meeting → meeting_not_found', async () => {
    // Prepare
    const { request, user } = await seed('alice', 3600, 'user:read:user');
    const sealed = await world.cipher.seal(user, { ...(await world.stored('alice')).tokens, scope: undefined });
    await world.store.update('alice', { registrationId: user.registrationId, version: user.version }, { sealed });

    // Act
    const scopeAnswer = mint(request('obf'));
    const meetingAnswer = mint({ ...request('zak'), kind: 'obf', meetingId: '99999999999' });

    // Assess
    await expect(scopeAnswer).rejects.toMatchObject({ name: 'NoBotTokenError', reason: 'scope_missing' });
    await expect(meetingAnswer).rejects.toMatchObject({ reason: 'scope_missing' });
  });

  it("an unknown meeting: no token (meeting_not_found); a join token for another host's meeting likewise", async () => {
    // Prepare
    const { request } = await seed('alice');
    const { meetingId: bobsMeeting } = await seed('bob');

    // Act
    const unknown = mint({ ...request('obf'), meetingId: '99999999999' });
    const notHost = mint({ ...request('join_token'), meetingId: bobsMeeting });
    const obfForBobsMeeting = await mint({ ...request('obf'), meetingId: bobsMeeting });

    // Assess
    await expect(unknown).rejects.toBeInstanceOf(NoBotTokenError);
    await expect(unknown).rejects.toMatchObject({ reason: 'meeting_not_found' });
    await expect(notHost).rejects.toMatchObject({ reason: 'meeting_not_found' });
    expect(obfForBobsMeeting).toMatch(/^obf:/);
  });

  it("Zoom failing transiently: a bounded retry, then ZoomApiUnavailableError with Zoom's Retry-After", async () => {
    // Prepare
    const { request } = await seed('alice');
    zoomApi.failNext({ status: 503, body: '{}' }, 2);
    zoomApi.failNext({ status: 429, body: '{}', retryAfterMs: 3000 }, 1);

    // Act
    const answer = mint(request('obf'));

    // Assess
    await expect(answer).rejects.toBeInstanceOf(ZoomApiUnavailableError);
    await expect(answer).rejects.toMatchObject({ failure: 'throttled', retryAfterMs: 3000 });
    expect(zoomApi.calls).toHaveLength(3);
  });

  it('a dead grant answers at once; a URL of an earlier registration finds no user', async () => {
    // Prepare
    const { request, user } = await seed('alice');
    const deleted = { ...request('obf'), registrationId: 'f00dfeed-0000-4000-8000-000000000000' };
    await world.store.update('alice', { registrationId: user.registrationId, version: user.version }, { status: 'reauth_required' });

    // Act / Assess
    await expect(mint(request('obf'))).rejects.toMatchObject({ name: 'TokenUnavailableError', reason: 'reauth_required' });
    await expect(mint(deleted)).rejects.toBeInstanceOf(NotFoundError);
    expect(zoomApi.calls).toEqual([]);
  });
});

describe('issuing URLs (admin API)', () => {
  const keyring = parseKeyring(JSON.stringify({ active: 'k1', k1: 'k'.repeat(40) }));
  const routeUrls = { obf: 'https://v.test/zoom/obf', zak: 'https://v.test/zoom/zak', join_token: 'https://v.test/zoom/join-token' };
  const urlDeps = () => ({
    store: world.store,
    cipher: world.cipher,
    signingKeys: { keyring: async () => keyring },
    clock: world.clock.clock,
    routeUrls,
  });

  it('signs one URL per kind asked for, for the meeting, until the validity ends', async () => {
    // Prepare
    const { user } = await seed('alice');

    // Act
    const issued = await issueBotTokenUrls(
      'alice',
      { meetingId: '85746065432', kinds: ['obf', 'join_token'], validForSeconds: 600 },
      urlDeps(),
    );

    // Assess
    expect(Object.keys(issued.urls)).toEqual(['obf', 'join_token']);
    expect(issued.expiresAt).toBe(Math.floor(world.clock.now() / 1000) * 1000 + 600_000);
    const url = new URL(issued.urls.join_token!);
    expect(url.origin + url.pathname).toBe(routeUrls.join_token);
    const params = botTokenParamsOf(url);
    expect(verifyBotTokenSignature('join_token', params, keyring, world.clock.now())).toMatchObject({
      userId: 'alice',
      registrationId: user.registrationId,
      meetingId: '85746065432',
    });
  });

  it('refuses a kind whose scope the grant lacks, a dead grant, an unknown user', async () => {
    // Prepare
    await seed('alice', 3600, 'user:read:zak');
    const { user: bob } = await seed('bob');
    await world.store.update('bob', { registrationId: bob.registrationId, version: bob.version }, { status: 'reauth_required' });
    const ask = { meetingId: '85746065432', kinds: ['zak', 'obf'] as const, validForSeconds: 600 };

    // Act / Assess
    await expect(issueBotTokenUrls('alice', ask, urlDeps())).rejects.toMatchObject({ kind: 'obf', scope: 'user:read:token' });
    await expect(issueBotTokenUrls('alice', { ...ask, kinds: ['zak'] }, urlDeps())).resolves.toHaveProperty('urls.zak');
    await expect(issueBotTokenUrls('bob', ask, urlDeps())).rejects.toBeInstanceOf(TokenUnavailableError);
    await expect(issueBotTokenUrls('carol', ask, urlDeps())).rejects.toBeInstanceOf(NotFoundError);
  });

  it('shows what a grant can mint and the scopes Zoom named; nothing for a dead grant', async () => {
    // Prepare
    const { user } = await seed('alice', 3600, 'user:read:zak meeting:read:local_recording_token');

    // Act
    const live = await botTokenCapabilities(user, world.cipher);
    const dead = await botTokenCapabilities({ ...user, status: 'reauth_required' }, world.cipher);

    // Assess
    expect(live).toEqual({ kinds: ['zak', 'join_token'], scopes: ['user:read:zak', 'meeting:read:local_recording_token'] });
    expect(dead).toEqual({ kinds: [] });
  });
});

describe('refresh requests on the queue (SQS message bodies)', () => {
  it('carry the rejected token expiry through; anything malformed is a poison message', () => {
    expect(parseRefreshRequest(JSON.stringify({ userId: 'u1', reason: 'rejected', rejectedExpiresAt: 1_760_000_000_000 }))).toEqual({
      userId: 'u1',
      reason: 'rejected',
      rejectedExpiresAt: 1_760_000_000_000,
    });
    expect(parseRefreshRequest(JSON.stringify({ userId: 'u1', reason: 'serve', rejectedExpiresAt: 5 }))).toEqual({
      userId: 'u1',
      reason: 'serve',
    });
    expect(parseRefreshRequest(JSON.stringify({ userId: 'u1', reason: 'rejected' }))).toBeUndefined();
    expect(parseRefreshRequest(JSON.stringify({ userId: 'u1', reason: 'rejected', rejectedExpiresAt: 'soon' }))).toBeUndefined();
  });
});
