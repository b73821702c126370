/**
 * The fakes must behave like the documented Zoom and Recall APIs, since other tests and the local
 * demo rely on them. These tests talk to them over real loopback HTTP.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeRecall, type FakeRecall } from '../../local/fakes/fake-recall';
import { startFakeZoom, type FakeZoom } from '../../local/fakes/fake-zoom';

const CLIENT_ID = 'testClientId';
const CLIENT_SECRET = 'testClientSecret';
const API_KEY = 'test-recall-key';
const APP = '3f1c2a9e-5b7d-4c8e-9f00-112233445566';
const OTHER_APP = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f99887766';

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

async function refresh(
  zoom: FakeZoom,
  refreshToken: string,
  options: { secret?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(zoom.tokenUrl, {
    method: 'POST',
    headers: {
      authorization: basic(CLIENT_ID, options.secret ?? CLIENT_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    signal: options.signal,
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

function decodeJwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

describe('fake Zoom token endpoint', () => {
  let zoom: FakeZoom;

  beforeEach(async () => {
    zoom = await startFakeZoom({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });
  afterEach(() => zoom.close());

  test('authorize mints a Zoom-like JWT access token and a refresh token', () => {
    // Act
    const before = Date.now();
    const grant = zoom.authorize('zoomUserA');

    // Assess
    expect(grant.token_type).toBe('bearer');
    expect(grant.expires_in).toBe(3600);
    expect(grant.access_token.split('.')).toHaveLength(3);
    expect(grant.access_token.length).toBeGreaterThanOrEqual(300);
    const payload = decodeJwtPayload(grant.access_token);
    expect(payload).toMatchObject({ uid: 'zoomUserA', tokenType: 'access_token', aud: 'https://oauth.zoom.us' });
    expect(payload.exp).toBe((payload.iat as number) + 3600);
    expect(grant.refresh_token.length).toBeGreaterThan(40);
    expect(zoom.currentRefreshToken('zoomUserA')).toBe(grant.refresh_token);
    const verified = zoom.verifyAccessToken(grant.access_token);
    expect(verified?.zoomUserId).toBe('zoomUserA');
    expect(verified!.expiresAt).toBeGreaterThanOrEqual(before + 3_599_000);
    expect(zoom.verifyAccessToken(`${grant.access_token}x`)).toBeUndefined();
  });

  test('refresh rotates both tokens and the old refresh token then gets invalid_grant', async () => {
    // Prepare
    const first = zoom.authorize('zoomUserA');

    // Act
    const rotated = await refresh(zoom, first.refresh_token);
    const reused = await refresh(zoom, first.refresh_token);

    // Assess
    expect(rotated.status).toBe(200);
    expect(rotated.json).toMatchObject({ token_type: 'bearer', expires_in: 3600, api_url: 'https://api.zoom.us' });
    expect(typeof rotated.json.scope).toBe('string');
    expect(rotated.json.access_token).not.toBe(first.access_token);
    expect(rotated.json.refresh_token).not.toBe(first.refresh_token);
    expect(zoom.currentRefreshToken('zoomUserA')).toBe(rotated.json.refresh_token);
    expect(reused.status).toBe(400);
    expect(reused.json).toEqual({ reason: 'Invalid Token!', error: 'invalid_grant' });
    // Old access tokens stay valid until they expire, like real Zoom JWTs.
    expect(zoom.verifyAccessToken(first.access_token)?.zoomUserId).toBe('zoomUserA');
    expect(zoom.verifyAccessToken(rotated.json.access_token)?.zoomUserId).toBe('zoomUserA');
    expect(zoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
  });

  test('setAccessTokenTtl changes the lifetime of refreshed tokens', async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');
    zoom.setAccessTokenTtl(90);

    // Act
    const rotated = await refresh(zoom, grant.refresh_token);

    // Assess
    expect(rotated.json.expires_in).toBe(90);
    const left = zoom.verifyAccessToken(rotated.json.access_token)!.expiresAt - Date.now();
    expect(left).toBeGreaterThan(85_000);
    expect(left).toBeLessThanOrEqual(90_000);
  });

  test('a wrong client secret or no Basic auth gets invalid_client and does not consume the grant', async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');

    // Act
    const wrongSecret = await refresh(zoom, grant.refresh_token, { secret: 'nope' });
    const noAuth = await fetch(zoom.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${grant.refresh_token}`,
    });

    // Assess
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json).toEqual({ reason: 'Invalid client_id or client_secret', error: 'invalid_client' });
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as any).error).toBe('invalid_client');
    expect(zoom.currentRefreshToken('zoomUserA')).toBe(grant.refresh_token);
  });

  test('missing parameters get invalid_request', async () => {
    // Act
    const response = await fetch(zoom.tokenUrl, {
      method: 'POST',
      headers: { authorization: basic(CLIENT_ID, CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token',
    });

    // Assess
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error).toBe('invalid_request');
  });

  test('after revoke, refresh gets invalid_grant with a revoked reason and access tokens stop verifying', async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');

    // Act
    zoom.revoke('zoomUserA');
    const result = await refresh(zoom, grant.refresh_token);

    // Assess
    expect(result.status).toBe(400);
    expect(result.json.error).toBe('invalid_grant');
    expect(result.json.reason).toMatch(/revoked/i);
    expect(zoom.verifyAccessToken(grant.access_token)).toBeUndefined();
    expect(zoom.currentRefreshToken('zoomUserA')).toBeUndefined();
  });

  test('tokenOwner names the Zoom user of every token it issued, spent and revoked ones too; none for a forged one', async () => {
    // Prepare: A's first pair spent by a refresh, then A revoked; B's grant alive.
    const a = zoom.authorize('zoomUserA');
    const refreshed = await refresh(zoom, a.refresh_token);
    zoom.revoke('zoomUserA');
    const b = zoom.authorize('zoomUserB');
    const [header, payload] = b.access_token.split('.');
    const forged = `${header}.${payload}.${a.access_token.split('.')[2]}`;

    // Act
    const owners = [a.access_token, a.refresh_token, refreshed.json.access_token, b.access_token, b.refresh_token].map((token) =>
      zoom.tokenOwner(token),
    );

    // Assess
    expect(owners).toEqual(['zoomUserA', 'zoomUserA', 'zoomUserA', 'zoomUserB', 'zoomUserB']);
    expect(zoom.verifyAccessToken(a.access_token)).toBeUndefined();
    expect(zoom.tokenOwner(forged)).toBeUndefined();
    expect(zoom.tokenOwner('not-a-token')).toBeUndefined();
  });

  test('failNext 429 answers with Retry-After and leaves the refresh token usable', async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');
    zoom.failNext(1, { status: 429, retryAfterSeconds: 7 });

    // Act
    const throttled = await refresh(zoom, grant.refresh_token);
    const retried = await refresh(zoom, grant.refresh_token);

    // Assess
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    expect(retried.status).toBe(200);
    expect(zoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
  });

  test('failNext 503 answers a JSON error for the next N requests only', async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');
    zoom.failNext(2, { status: 503 });

    // Act
    const first = await refresh(zoom, grant.refresh_token);
    const second = await refresh(zoom, grant.refresh_token);
    const third = await refresh(zoom, grant.refresh_token);

    // Assess
    expect([first.status, second.status, third.status]).toEqual([503, 503, 200]);
    expect(typeof first.json.error).toBe('string');
  });

  test("failNext 'hang' never answers, so the client's timeout fires", async () => {
    // Prepare
    const grant = zoom.authorize('zoomUserA');
    zoom.failNext(1, 'hang');

    // Act
    const hung = refresh(zoom, grant.refresh_token, { signal: AbortSignal.timeout(200) });

    // Assess
    await expect(hung).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(zoom.currentRefreshToken('zoomUserA')).toBe(grant.refresh_token);
  });

  test('the fake-only /fake/authorize route mints a grant', async () => {
    // Act
    const response = await fetch(`${zoom.url}/fake/authorize?zoom_user_id=demoUser&expires_in=600`, { method: 'POST' });
    const body = (await response.json()) as any;

    // Assess
    expect(response.status).toBe(200);
    expect(body.expires_in).toBe(600);
    expect(zoom.verifyAccessToken(body.access_token)?.zoomUserId).toBe('demoUser');
    expect(zoom.currentRefreshToken('demoUser')).toBe(body.refresh_token);
  });
});

/** A tiny stand-in for the project's callback endpoint: answers what `answer` says, counts calls. */
interface CallbackServer {
  url(userId: string): string;
  calls: number;
  answer: (userId: string) => { status?: number; contentType?: string; body?: string; delayMs?: number } | 'hang';
  close(): Promise<void>;
}

async function startCallbackServer(tokens: Map<string, string>): Promise<CallbackServer> {
  const callback: CallbackServer = {
    calls: 0,
    url: () => '',
    answer: (userId) => ({ body: tokens.get(userId) ?? '' }),
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    callback.calls++;
    const userId = new URL(req.url ?? '/', 'http://x').searchParams.get('user') ?? '';
    const answer = callback.answer(userId);
    if (answer === 'hang') return;
    setTimeout(() => {
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'text/plain; charset=utf-8' });
      res.end(answer.body ?? tokens.get(userId) ?? '');
    }, answer.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  callback.url = (userId) => `http://127.0.0.1:${port}/callback?user=${encodeURIComponent(userId)}&sig=abc`;
  callback.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return callback;
}

describe('fake Recall API', () => {
  let zoom: FakeZoom;
  let recall: FakeRecall;
  let callback: CallbackServer;
  const tokens = new Map<string, string>();

  beforeEach(async () => {
    zoom = await startFakeZoom({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    recall = await startFakeRecall({ verifyAccessToken: zoom.verifyAccessToken, callbackTimeoutMs: 500 });
    tokens.clear();
    callback = await startCallbackServer(tokens);
  });
  afterEach(async () => {
    await Promise.all([recall.close(), zoom.close(), callback.close()]);
  });

  function authorizeUser(zoomUserId: string, expiresInSeconds?: number): void {
    tokens.set(zoomUserId, zoom.authorize(zoomUserId, { expiresInSeconds }).access_token);
  }

  async function api(
    method: string,
    path: string,
    options: { body?: unknown; key?: string | null; idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<{ status: number; headers: Headers; json: any }> {
    const headers: Record<string, string> = {};
    if (options.key !== null) headers.authorization = `Token ${options.key ?? API_KEY}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    const url = path.startsWith('http') ? path : `${recall.url}${path}`;
    const response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
  }

  function createCredential(zoomUserId: string, options: { app?: string; idempotencyKey?: string } = {}) {
    return api('POST', '/api/v2/zoom-oauth-credentials/', {
      body: { oauth_app: options.app ?? APP, access_token_callback_url: callback.url(zoomUserId) },
      idempotencyKey: options.idempotencyKey,
    });
  }

  test('create calls the callback during the request and accepts a valid token', async () => {
    // Prepare
    authorizeUser('zoomUserA');

    // Act
    const created = await createCredential('zoomUserA');
    const fetched = await api('GET', `/api/v2/zoom-oauth-credentials/${created.json.id}/`);

    // Assess
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      oauth_app: APP,
      user_id: 'zoomUserA',
      account_id: null,
      access_token_callback_url: callback.url('zoomUserA'),
      status: 'healthy',
    });
    expect(created.json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(created.json.created_at))).toBe(false);
    expect(created.json).toHaveProperty('meeting_sync_status');
    expect(callback.calls).toBe(1);
    expect(fetched.status).toBe(200);
    expect(fetched.json).toEqual(created.json);
    expect(recall.credentials().map((c) => c.id)).toEqual([created.json.id]);
  });

  test.each([
    ['a non-200 answer', { status: 500, body: 'boom' }, /500/],
    ['a JSON content type', { contentType: 'application/json' }, /text\/plain/],
  ])('create rejects %s from the callback', async (_name, answer, detail) => {
    // Prepare
    authorizeUser('zoomUserA');
    callback.answer = () => answer;

    // Act
    const created = await createCredential('zoomUserA');

    // Assess
    expect(created.status).toBe(400);
    expect(created.json.detail).toMatch(detail);
    expect(callback.calls).toBe(1);
    expect(recall.credentials()).toEqual([]);
  });

  test('create rejects a token fake Zoom does not know', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    callback.answer = (userId) => ({ body: `${tokens.get(userId)}tampered` });

    // Act
    const created = await createCredential('zoomUserA');

    // Assess
    expect(created.status).toBe(400);
    expect(created.json.detail).toMatch(/valid Zoom access token/);
    expect(recall.credentials()).toEqual([]);
  });

  test('create rejects a token with under 120 s left', async () => {
    // Prepare
    authorizeUser('zoomUserA', 100);

    // Act
    const created = await createCredential('zoomUserA');

    // Assess
    expect(created.status).toBe(400);
    expect(created.json.detail).toMatch(/120 seconds/);
    expect(recall.credentials()).toEqual([]);
  });

  test('create rejects a callback that does not answer in time', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    callback.answer = () => 'hang';

    // Act
    const created = await createCredential('zoomUserA');

    // Assess: its own 500 ms (said, not timed: a busy machine changes nothing).
    expect(created.status).toBe(400);
    expect(created.json.detail).toMatch(/did not answer within 500 ms/);
  });

  test('create validates the body with DRF-style field errors', async () => {
    // Act
    const missing = await api('POST', '/api/v2/zoom-oauth-credentials/', { body: { access_token_callback_url: 'nope' } });

    // Assess
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({
      oauth_app: ['This field is required.'],
      access_token_callback_url: ['Enter a valid URL.'],
    });
    expect(callback.calls).toBe(0);
  });

  test('a second credential for the same Zoom user and app gets the conflict body', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    const first = await createCredential('zoomUserA');

    // Act
    const second = await createCredential('zoomUserA');
    const otherApp = await createCredential('zoomUserA', { app: OTHER_APP });

    // Assess
    expect(first.status).toBe(201);
    expect(second.status).toBe(400);
    expect(second.json).toEqual({
      detail: 'A credential for this Zoom user already exists.',
      conflicting_zoom_user_id: 'zoomUserA',
    });
    expect(otherApp.status).toBe(201);
    expect(recall.credentials()).toHaveLength(2);
  });

  test('an idempotent replay returns the cached response without calling the callback again', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    const first = await createCredential('zoomUserA', { idempotencyKey: 'key-1' });

    // Act
    const replay = await createCredential('zoomUserA', { idempotencyKey: 'key-1' });

    // Assess
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.json).toEqual(first.json);
    expect(callback.calls).toBe(1);
    expect(recall.credentials()).toHaveLength(1);
    expect(recall.requests().filter((r) => r.idempotencyKey === 'key-1')).toHaveLength(2);
  });

  test('a duplicate while the first request is still running gets 409', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    callback.answer = () => ({ delayMs: 300 });

    // Act
    const first = createCredential('zoomUserA', { idempotencyKey: 'key-2' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const duplicate = await createCredential('zoomUserA', { idempotencyKey: 'key-2' });

    // Assess
    expect(duplicate.status).toBe(409);
    expect((await first).status).toBe(201);
    expect(callback.calls).toBe(1);
  });

  test('list filters and paginates with full next/previous URLs', async () => {
    // Prepare
    for (const user of ['u1', 'u2', 'u3']) {
      authorizeUser(user);
      expect((await createCredential(user)).status).toBe(201);
    }
    expect((await createCredential('u1', { app: OTHER_APP })).status).toBe(201);

    // Act
    const page1 = await api('GET', `/api/v2/zoom-oauth-credentials/?oauth_app=${APP}`);
    const page2 = await api('GET', page1.json.next);
    const back = await api('GET', page2.json.previous);
    const byUser = await api('GET', `/api/v2/zoom-oauth-credentials/?user_id=u1`);
    const badCursor = await api('GET', `/api/v2/zoom-oauth-credentials/?cursor=garbage`);

    // Assess
    expect(page1.status).toBe(200);
    expect(page1.json.previous).toBeNull();
    expect(page1.json.results.map((c: any) => c.user_id)).toEqual(['u1', 'u2']);
    expect(page1.json.next).toMatch(new RegExp(`^${recall.url}/api/v2/zoom-oauth-credentials/\\?.*cursor=`));
    expect(page1.json.next).toContain(`oauth_app=${APP}`);
    expect(page2.json.results.map((c: any) => c.user_id)).toEqual(['u3']);
    expect(page2.json.next).toBeNull();
    expect(back.json.results.map((c: any) => c.user_id)).toEqual(['u1', 'u2']);
    expect(byUser.json.results.map((c: any) => c.oauth_app).sort()).toEqual([APP, OTHER_APP].sort());
    expect(byUser.json.next).toBeNull();
    expect(badCursor.status).toBe(404);
  });

  test('delete answers 204, then the credential is gone (404)', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    const created = await createCredential('zoomUserA');
    const path = `/api/v2/zoom-oauth-credentials/${created.json.id}/`;

    // Act
    const deleted = await api('DELETE', path);
    const deletedAgain = await api('DELETE', path);
    const fetched = await api('GET', path);

    // Assess
    expect(deleted.status).toBe(204);
    expect(deletedAgain.status).toBe(404);
    expect(deletedAgain.json).toEqual({ detail: 'Not found.' });
    expect(fetched.status).toBe(404);
    expect(recall.credentials()).toEqual([]);
  });

  test('a wrong or missing API key gets 401', async () => {
    // Act
    const wrong = await api('GET', '/api/v2/zoom-oauth-credentials/', { key: 'wrong-key' });
    const missing = await api('GET', '/api/v2/zoom-oauth-credentials/', { key: null });

    // Assess
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ detail: 'Invalid token.' });
    expect(missing.status).toBe(401);
  });

  test('failNext 429 carries Retry-After; 5xx and hang follow', async () => {
    // Prepare
    recall.failNext(1, { status: 429, retryAfterSeconds: 3 });
    recall.failNext(1, { status: 502 });
    recall.failNext(1, 'hang');

    // Act
    const throttled = await api('GET', '/api/v2/zoom-oauth-credentials/');
    const badGateway = await api('GET', '/api/v2/zoom-oauth-credentials/');
    const hung = api('GET', '/api/v2/zoom-oauth-credentials/', { signal: AbortSignal.timeout(200) });
    await expect(hung).rejects.toMatchObject({ name: 'TimeoutError' });
    const afterwards = await api('GET', '/api/v2/zoom-oauth-credentials/');

    // Assess
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('3');
    expect(badGateway.status).toBe(502);
    expect(afterwards.status).toBe(200);
    expect(recall.requests().map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'GET']);
  });

  test('fetchToken calls the callback like Recall and marks the credential unhealthy when it fails', async () => {
    // Prepare
    authorizeUser('zoomUserA');
    const created = await createCredential('zoomUserA');

    // Act
    const healthy = await recall.fetchToken(created.json.id);
    zoom.revoke('zoomUserA');
    const revoked = await recall.fetchToken(created.json.id);
    const unhealthy = await api('GET', '/api/v2/zoom-oauth-credentials/?status=unhealthy');

    // Assess
    expect(healthy).toMatchObject({ status: 200, body: tokens.get('zoomUserA') });
    expect(healthy.problem).toBeUndefined();
    expect(healthy.contentType).toMatch(/^text\/plain/);
    expect(revoked.problem).toMatch(/valid Zoom access token/);
    expect(unhealthy.json.results.map((c: any) => c.id)).toEqual([created.json.id]);
    expect(callback.calls).toBe(3);
  });
});

describe('fakes with a stateFile survive a restart', () => {
  let dir: string;
  const running: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fakes-state-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((fake) => fake.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function zoomAt(stateFile: string): Promise<FakeZoom> {
    const zoom = await startFakeZoom({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, stateFile });
    running.push(zoom);
    return zoom;
  }

  async function recallAt(stateFile: string, zoom: FakeZoom): Promise<FakeRecall> {
    const recall = await startFakeRecall({ verifyAccessToken: zoom.verifyAccessToken, callbackTimeoutMs: 500, stateFile });
    running.push(recall);
    return recall;
  }

  async function api(
    recall: FakeRecall,
    method: string,
    path: string,
    options: { body?: unknown; idempotencyKey?: string } = {},
  ): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = { authorization: `Token ${API_KEY}` };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    const response = await fetch(`${recall.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  }

  test("fake Zoom keeps a grant's scopes and its meetings across a restart; its fake-only routes make both", async () => {
    // Prepare
    const stateFile = join(dir, 'fake-zoom.json');
    const before = await zoomAt(stateFile);
    const grant = (await (
      await fetch(`${before.url}/fake/authorize?zoom_user_id=host&scope=${encodeURIComponent('user:read:zak')}`, { method: 'POST' })
    ).json()) as { access_token: string; refresh_token: string; scope: string };
    const meeting = (await (await fetch(`${before.url}/fake/meetings?host_zoom_user_id=host`, { method: 'POST' })).json()) as {
      id: number;
    };
    await before.close();

    // Act
    const after = await zoomAt(stateFile);
    const refreshed = await refresh(after, grant.refresh_token);
    const mint = (type: string) =>
      fetch(`${after.apiBaseUrl}/users/me/token?type=${type}&meeting_id=${meeting.id}`, {
        headers: { authorization: `Bearer ${refreshed.json.access_token}` },
      });
    const zak = await mint('zak');
    const obf = await mint('onbehalf');

    // Assess
    expect(grant.scope).toBe('user:read:zak');
    expect(String(meeting.id)).toMatch(/^[1-9][0-9]{10}$/);
    expect(refreshed.json.scope).toBe('user:read:zak');
    expect(after.verifyAccessToken(grant.access_token)?.scope).toBe('user:read:zak');
    expect(zak.status).toBe(200);
    expect(obf.status).toBe(400);
    expect(await obf.json()).toMatchObject({ code: 4711 });
    expect(after.apiStats()).toMatchObject({ zak: 1, onbehalf: 0 });
  });

  test('fake Zoom keeps grants, rotation and live access tokens across a restart', async () => {
    // Prepare
    const stateFile = join(dir, 'nested', 'fake-zoom.json');
    const before = await zoomAt(stateFile);
    const first = before.authorize('zoomUserA');
    const rotated = await refresh(before, first.refresh_token);
    const revokedGrant = before.authorize('zoomUserB');
    before.revoke('zoomUserB');
    await before.close();

    // Act
    const after = await zoomAt(stateFile);
    const reusedOld = await refresh(after, first.refresh_token);
    const revokedRefresh = await refresh(after, revokedGrant.refresh_token);
    const verifiedFirst = after.verifyAccessToken(first.access_token);
    const verifiedRotated = after.verifyAccessToken(rotated.json.access_token);
    const current = await refresh(after, rotated.json.refresh_token);

    // Assess
    expect(rotated.status).toBe(200);
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect((await readdir(join(dir, 'nested'))).filter((name) => name !== 'fake-zoom.json')).toEqual([]);
    expect(reusedOld.status).toBe(400);
    expect(reusedOld.json).toEqual({ reason: 'Invalid Token!', error: 'invalid_grant' });
    expect(revokedRefresh.json.error).toBe('invalid_grant');
    expect(revokedRefresh.json.reason).toMatch(/revoked/i);
    expect(after.verifyAccessToken(revokedGrant.access_token)).toBeUndefined();
    expect(verifiedFirst?.zoomUserId).toBe('zoomUserA');
    expect(verifiedRotated?.zoomUserId).toBe('zoomUserA');
    expect(after.verifyAccessToken(`${first.access_token}x`)).toBeUndefined();
    expect(current.status).toBe(200);
    expect(after.currentRefreshToken('zoomUserA')).toBe(current.json.refresh_token);
    expect(after.verifyAccessToken(current.json.access_token)?.zoomUserId).toBe('zoomUserA');
    expect(after.stats()).toEqual({ refreshCalls: 3, refreshOk: 1, invalidGrant: 2 }); // counters start afresh
  });

  test('fake Recall keeps credentials and idempotent results across a restart', async () => {
    // Prepare
    const zoomFile = join(dir, 'fake-zoom.json');
    const recallFile = join(dir, 'fake-recall.json');
    const tokens = new Map<string, string>();
    const callback = await startCallbackServer(tokens);
    running.push(callback);
    const zoomBefore = await zoomAt(zoomFile);
    const recallBefore = await recallAt(recallFile, zoomBefore);
    tokens.set('zoomUserA', zoomBefore.authorize('zoomUserA').access_token);
    tokens.set('zoomUserB', zoomBefore.authorize('zoomUserB').access_token);
    const body = (user: string) => ({ oauth_app: APP, access_token_callback_url: callback.url(user) });
    const createdA = await api(recallBefore, 'POST', '/api/v2/zoom-oauth-credentials/', {
      body: body('zoomUserA'),
      idempotencyKey: 'key-A',
    });
    const createdB = await api(recallBefore, 'POST', '/api/v2/zoom-oauth-credentials/', { body: body('zoomUserB') });
    await Promise.all([recallBefore.close(), zoomBefore.close()]);
    const callsBefore = callback.calls;

    // Act
    const zoom = await zoomAt(zoomFile);
    const recall = await recallAt(recallFile, zoom);
    const listed = await api(recall, 'GET', '/api/v2/zoom-oauth-credentials/');
    const fetched = await api(recall, 'GET', `/api/v2/zoom-oauth-credentials/${createdA.json.id}/`);
    const replay = await api(recall, 'POST', '/api/v2/zoom-oauth-credentials/', {
      body: body('zoomUserA'),
      idempotencyKey: 'key-A',
    });
    const duplicate = await api(recall, 'POST', '/api/v2/zoom-oauth-credentials/', { body: body('zoomUserA') });
    const deleted = await api(recall, 'DELETE', `/api/v2/zoom-oauth-credentials/${createdA.json.id}/`);
    const health = await recall.fetchToken(createdB.json.id);
    await recall.close();
    const recallAgain = await recallAt(recallFile, zoom);
    const listedAgain = await api(recallAgain, 'GET', '/api/v2/zoom-oauth-credentials/');

    // Assess
    expect([createdA.status, createdB.status]).toEqual([201, 201]);
    expect((await stat(recallFile)).mode & 0o777).toBe(0o600);
    expect(listed.status).toBe(200);
    expect(listed.json.results).toEqual([createdA.json, createdB.json]);
    expect(fetched.status).toBe(200);
    expect(fetched.json).toEqual(createdA.json);
    expect(replay.status).toBe(201);
    expect(replay.json).toEqual(createdA.json);
    expect(duplicate.status).toBe(400);
    expect(duplicate.json.conflicting_zoom_user_id).toBe('zoomUserA');
    expect(callback.calls).toBe(callsBefore + 2); // the duplicate check and fetchToken, not the replay
    expect(deleted.status).toBe(204);
    expect(health.problem).toBeUndefined(); // zoomUserB's access token still verifies after the restart
    expect(listedAgain.json.results).toEqual([createdB.json]);
    expect(recallAgain.credentials().map((c) => c.id)).toEqual([createdB.json.id]);
  });

  test.each([
    ['not JSON', '{"version": 1, "signingSecret": '],
    ['JSON of the wrong shape', '{"version": 1, "grants": "nope"}'],
  ])('a state file that is %s makes start reject with an error naming the file', async (_name, content) => {
    // Prepare
    const zoomFile = join(dir, 'broken-zoom.json');
    const recallFile = join(dir, 'broken-recall.json');
    await writeFile(zoomFile, content);
    await writeFile(recallFile, content);

    // Act
    const zoomStart = startFakeZoom({ stateFile: zoomFile });
    const recallStart = startFakeRecall({ verifyAccessToken: () => undefined, stateFile: recallFile });

    // Assess
    await expect(zoomStart).rejects.toThrow(zoomFile);
    await expect(recallStart).rejects.toThrow(recallFile);
  });
});

describe('fake Recall signs its calls as Recall does once a workspace verification secret exists', () => {
  const secretOf = (fill: number) => `whsec_${Buffer.alloc(32, fill).toString('base64')}`;
  const NOW = Date.parse('2030-01-01T00:00:00Z');

  /** A server that records the headers of every GET and answers a fixed body. */
  async function recordingServer() {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/anything?x=1`;
    const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    return { seen, url, close };
  }

  it('one v1 signature per secret over "id.timestamp." at its clock; none without a secret', async () => {
    // Prepare
    const zoom = await startFakeZoom();
    const target = await recordingServer();
    const signing = await startFakeRecall({
      verifyAccessToken: zoom.verifyAccessToken,
      verificationSecret: `${secretOf(1)} ${secretOf(2)}`,
      clock: () => NOW,
    });
    const plain = await startFakeRecall({ verifyAccessToken: zoom.verifyAccessToken });

    try {
      // Act
      const answer = await signing.call(target.url);
      await plain.call(target.url);

      // Assess: checked with node:crypto here, not with the fake's own signer.
      expect(answer).toEqual({ status: 200, body: 'ok', contentType: 'text/plain' });
      const [signed, unsigned] = target.seen;
      const id = String(signed['webhook-id']);
      expect(signed['webhook-timestamp']).toBe(String(NOW / 1000));
      const expected = [1, 2].map(
        (fill) =>
          `v1,${createHmac('sha256', Buffer.alloc(32, fill))
            .update(`${id}.${NOW / 1000}.`)
            .digest('base64')}`,
      );
      expect(signed['webhook-signature']).toBe(expected.join(' '));
      expect(Object.keys(unsigned).filter((name) => name.startsWith('webhook-'))).toEqual([]);
    } finally {
      await Promise.all([signing.close(), plain.close(), zoom.close(), target.close()]);
    }
  });
});
