/**
 * The admin API's contract, end to end: the local runtime (dynalite, KMS stand-in, the real
 * handlers behind an HTTP server) with the embedded fake Zoom and fake Recall, over loopback HTTP.
 *
 * One runtime for the whole file: the handlers read their configuration once, at import. Races
 * and Recall answers the fakes cannot bring about run the registration in this process instead,
 * on the runtime's own table, KMS key, signing keys and callback (`inProcess`).
 */
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import { createRecallClient } from '../../functions/adapters/recall-client';
import { signingKeyProvider } from '../../functions/adapters/secrets';
import { RecallConflictError, UpstreamError } from '../../functions/domain/errors';
import type { RecallClient } from '../../functions/domain/ports';
import { registerUser, type NewTokens, type RegistrationDeps } from '../../functions/domain/registration';
import { TABLE_NAME } from '../../local/dynamo';
import { DEMO_OAUTH_APP_ID, type LocalRuntime } from '../../local/runtime';
import { startTestRuntime } from '../support/test-runtime';
import { DEFAULT_FAKE_RECALL_API_KEY, type FakeRecall } from '../../local/fakes/fake-recall';
import type { FakeZoom, ZoomTokenResponse } from '../../local/fakes/fake-zoom';

const HOUR_MS = 3600_000;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The admin function's time in this file (LOCAL_ADMIN_TIMEOUT_MS), short enough to outlast in a test. */
const ADMIN_TIMEOUT_MS = 6_000;

let runtime: LocalRuntime;
let zoom: FakeZoom;
let recall: FakeRecall;
let userCounter = 0;
let dynamoClient: DynamoDBClient;
let kmsClient: KMSClient;
/** The runtime's table, read and written from this process. */
let store: DynamoTokenStore;
/** A real Recall client talking to the fake Recall, for in-process registrations. */
let realRecall: RecallClient;

/** A fresh app user id per test, so tests do not share records. */
function newUserId(label: string): string {
  userCounter += 1;
  return `${label}-${userCounter}-${Date.now().toString(36)}`;
}

interface Answer {
  status: number;
  text: string;
  json: any;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  options: { body?: string | object; token?: string | null; contentType?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? runtime.adminToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  const response = await fetch(`${runtime.url}${path}`, { method, headers, body });
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, headers: response.headers };
}

const credentialPath = (userId: string) => `/users/${encodeURIComponent(userId)}/zoom-credential`;
const putGrant = (userId: string, body: object | string) => call('PUT', credentialPath(userId), { body });

/** Zoom's token JSON, as the app backend would forward it. */
function grantFor(zoomUserId: string): ZoomTokenResponse {
  return zoom.authorize(zoomUserId);
}

function requestsSince(index: number) {
  return recall.requests().slice(index);
}

/**
 * Injected Recall failures are a queue: a request that gives up early leaves the rest queued.
 * Consume what is left with unauthenticated requests (a real answer is a 401; hangs time out).
 */
async function drainRecallFailures(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      const response = await fetch(`${recall.url}/api/v2/zoom-oauth-credentials/`, { signal: AbortSignal.timeout(250) });
      await response.text();
      if (response.status === 401) return;
    } catch {
      // a hung request: one failure consumed
    }
  }
  throw new Error('fake Recall failures did not drain');
}

/** Registration deps on the runtime's table, KMS key, signing keys and callback, with the given Recall. */
function inProcess(recallClient: RecallClient): RegistrationDeps {
  return {
    store,
    cipher: new KmsEnvelopeCipher({ kms: kmsClient, keyId: runtime.handlerEnv.KMS_KEY_ID! }),
    recall: recallClient,
    signingKeys: signingKeyProvider({ file: join(runtime.dataDir, 'signing-keys.json') }),
    clock: Date.now,
    callbackUrl: `${runtime.url}/zoom/token`,
    oauthAppId: DEMO_OAUTH_APP_ID,
  };
}

function tokensOf(grant: ZoomTokenResponse): NewTokens {
  return {
    tokens: { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope },
    accessTokenExpiresAt: Date.now() + grant.expires_in * 1000,
  };
}

async function deleteAtRecall(credentialId: string): Promise<void> {
  const response = await fetch(`${recall.url}/api/v2/zoom-oauth-credentials/${credentialId}/`, {
    method: 'DELETE',
    headers: { authorization: `Token ${DEFAULT_FAKE_RECALL_API_KEY}` },
  });
  expect(response.status).toBe(204);
}

beforeAll(async () => {
  // Per-call Recall budget far beyond the function's time: only the request's deadline bounds it.
  runtime = await startTestRuntime({
    RECALL_TIMEOUT_MS: '3000',
    RECALL_BUDGET_MS: '25000',
    LOCAL_ADMIN_TIMEOUT_MS: String(ADMIN_TIMEOUT_MS),
  });
  zoom = runtime.fakeZoom!;
  recall = runtime.fakeRecall!;
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  dynamoClient = new DynamoDBClient({ ...local, endpoint: runtime.dynamoEndpoint });
  kmsClient = new KMSClient({ ...local, endpoint: runtime.kms.url });
  store = new DynamoTokenStore({ client: dynamoClient, tableName: TABLE_NAME });
  realRecall = createRecallClient({ baseUrl: recall.url, apiKey: () => DEFAULT_FAKE_RECALL_API_KEY, timeoutMs: 3000 });
}, 30_000);

afterAll(async () => {
  dynamoClient?.destroy();
  kmsClient?.destroy();
  await runtime?.close();
});

afterEach(async () => {
  await drainRecallFailures();
});

describe('PUT /users/{id}/zoom-credential: first registration', () => {
  test('stores the grant, creates one Recall credential whose callback validated, answers 201 without a token', async () => {
    // Prepare
    const userId = newUserId('first');
    const grant = grantFor('zoom-first');
    const before = recall.requests().length;
    const startedAt = Date.now();

    // Act
    const answer = await putGrant(userId, grant);

    // Assess
    expect(answer.status).toBe(201);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.json.user_id).toBe(userId);
    expect(answer.json.status).toBe('active');
    expect(answer.json.token_status).toBe('active');
    expect(answer.json.recall_status).toBe('registered');
    expect(answer.json.access_token_expires_at).toMatch(ISO);
    const expiresAt = Date.parse(answer.json.access_token_expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(startedAt + HOUR_MS - 5_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + HOUR_MS + 1_000);

    const stored = recall.credentials().filter((c) => c.user_id === 'zoom-first');
    expect(stored).toHaveLength(1);
    expect(answer.json.recall_credential_id).toBe(stored[0].id);
    expect(stored[0].status).toBe('healthy');
    const callbackUrl = new URL(stored[0].access_token_callback_url);
    expect(`${callbackUrl.origin}${callbackUrl.pathname}`).toBe(`${runtime.url}/zoom/token`);
    expect(callbackUrl.searchParams.get('user_id')).toBe(userId);
    expect(callbackUrl.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const creates = requestsSince(before).filter((r) => r.method === 'POST');
    expect(creates).toHaveLength(1);
    expect(creates[0].idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);

    expect(answer.text).not.toContain(grant.access_token);
    expect(answer.text).not.toContain(grant.refresh_token);
    expect(answer.text).not.toContain(callbackUrl.searchParams.get('sig')!);
  });

  test("Recall fetching through the registered callback URL gets the user's current access token", async () => {
    // Prepare
    const userId = newUserId('fetch');
    const grant = grantFor('zoom-fetch');
    const put = await putGrant(userId, grant);
    expect(put.status).toBe(201);

    // Act
    const fetched = await recall.fetchToken(put.json.recall_credential_id);

    // Assess
    expect(fetched.problem).toBeUndefined();
    expect(fetched.status).toBe(200);
    expect(fetched.contentType).toMatch(/^text\/plain/);
    expect(fetched.body).toBe(grant.access_token);
  });
});

describe('PUT again for a registered user', () => {
  test('a new grant answers 200, keeps the credential (checked at Recall), makes no new create, and the callback serves the new token', async () => {
    // Prepare
    const userId = newUserId('again');
    const first = await putGrant(userId, grantFor('zoom-again'));
    expect(first.status).toBe(201);
    const second = grantFor('zoom-again');
    const before = recall.requests().length;

    // Act
    const answer = await putGrant(userId, second);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json.status).toBe('active');
    expect(answer.json.recall_credential_id).toBe(first.json.recall_credential_id);
    expect(requestsSince(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v2/zoom-oauth-credentials/${first.json.recall_credential_id}/`,
    ]);
    expect(answer.text).not.toContain(second.access_token);
    const fetched = await recall.fetchToken(first.json.recall_credential_id);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toBe(second.access_token);
    expect(fetched.problem).toBeUndefined();
  });
});

describe('the same PUT again', () => {
  test('after a refresh consumed its refresh token: the stored successor is kept and Recall is finished', async () => {
    // Prepare: the first PUT stores the grant but Recall is down (502); then a refresh spends the
    // grant's single-use refresh token (the access token has < 150 s left, so the access-token
    // route waits for a refresh, as Recall's validation call would).
    const userId = newUserId('replay');
    const grant = zoom.authorize('zoom-replay', { expiresInSeconds: 100 });
    recall.failNext(10, { status: 503 });
    const failed = await putGrant(userId, grant);
    await drainRecallFailures();
    const refreshed = await call('GET', `${credentialPath(userId)}/access-token`);
    const zoomBefore = zoom.stats();

    // Act
    const replayed = await putGrant(userId, grant);

    // Assess
    expect(failed.status).toBe(502);
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.access_token).not.toBe(grant.access_token);
    expect(replayed.status).toBe(200);
    expect(replayed.json).toMatchObject({ status: 'active', token_status: 'active', recall_status: 'registered' });
    expect(replayed.json.access_token_expires_at).toBe(refreshed.json.expires_at);
    expect(zoom.stats()).toEqual(zoomBefore); // the spent refresh token was never tried
    expect((await recall.fetchToken(replayed.json.recall_credential_id)).body).toBe(refreshed.json.access_token);
    const after = await call('GET', `${credentialPath(userId)}/access-token`);
    expect(after.json.access_token).toBe(refreshed.json.access_token);
  });

  test("a grant close to expiry: Recall's validation call is served the stored token at once, the credential is recorded, the workers refresh", async () => {
    // Prepare: 200 s left: inside the serve margin, above the serve floor.
    const userId = newUserId('near-expiry');
    const grant = zoom.authorize('zoom-near-expiry', { expiresInSeconds: 200 });
    const refreshesBefore = zoom.stats().refreshOk;

    // Act
    const answer = await putGrant(userId, grant);
    await runtime.refreshQueue.drain();

    // Assess
    expect(answer.status).toBe(201);
    expect(zoom.stats().refreshOk - refreshesBefore).toBe(1);
    const held = recall.credentials().filter((c) => c.user_id === 'zoom-near-expiry');
    expect(held.map((c) => c.id)).toEqual([answer.json.recall_credential_id]);
    const status = await call('GET', credentialPath(userId));
    expect(status.json).toMatchObject({ status: 'active', recall_status: 'registered', recall_credential_id: held[0].id });
    expect(status.json.last_refresh_at).toMatch(ISO);
  });
});

describe('the credential the record names is checked at Recall', () => {
  test('deleted at Recall: the next PUT creates a new one', async () => {
    // Prepare
    const userId = newUserId('vanished');
    const first = await putGrant(userId, grantFor('zoom-vanished'));
    expect(first.status).toBe(201);
    await deleteAtRecall(first.json.recall_credential_id);
    const before = recall.requests().length;
    const grant = grantFor('zoom-vanished');

    // Act
    const answer = await putGrant(userId, grant);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ status: 'active', recall_status: 'registered' });
    expect(answer.json.recall_credential_id).not.toBe(first.json.recall_credential_id);
    expect(requestsSince(before).map((r) => r.method)).toEqual(['GET', 'POST']);
    const held = recall.credentials().filter((c) => c.user_id === 'zoom-vanished');
    expect(held.map((c) => c.id)).toEqual([answer.json.recall_credential_id]);
    expect((await recall.fetchToken(answer.json.recall_credential_id)).body).toBe(grant.access_token);
  });

  test("calling another user's URL: the user gets its own credential and the other one is left alone", async () => {
    // Prepare: the record names a credential that calls another user's URL.
    const other = newUserId('bystander');
    const userId = newUserId('misnamed');
    const otherPut = await putGrant(other, grantFor('zoom-bystander-1'));
    const first = await putGrant(userId, grantFor('zoom-misnamed'));
    expect([otherPut.status, first.status]).toEqual([201, 201]);
    const stored = (await store.get(userId, { consistent: true }))!;
    await store.update(
      userId,
      { registrationId: stored.registrationId, version: stored.version },
      { recall: { ...stored.recall, credentialId: otherPut.json.recall_credential_id } },
    );
    const grant = grantFor('zoom-misnamed');

    // Act
    const answer = await putGrant(userId, grant);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json.recall_status).toBe('registered');
    expect([otherPut.json.recall_credential_id, first.json.recall_credential_id]).not.toContain(answer.json.recall_credential_id);
    const mine = recall.credentials().filter((c) => c.user_id === 'zoom-misnamed');
    expect(mine.map((c) => c.id)).toEqual([answer.json.recall_credential_id]);
    expect(new URL(mine[0].access_token_callback_url).searchParams.get('user_id')).toBe(userId);
    expect(recall.credentials().map((c) => c.id)).toContain(otherPut.json.recall_credential_id);
    expect((await call('GET', credentialPath(other))).json).toMatchObject({
      status: 'active',
      recall_credential_id: otherPut.json.recall_credential_id,
    });
  });
});

describe('two PUTs at once', () => {
  test("the older one's late Recall answer is not recorded over the newer one's credential", async () => {
    // Prepare: PUT 1 creates C1 at Recall, but its answer arrives only after PUT 2 (new tokens)
    // went through end to end: PUT 2 conflicted with C1, deleted it and created C2.
    const userId = newUserId('race');
    const grant1 = grantFor('zoom-race');
    const grant2 = grantFor('zoom-race');
    let put2: Answer | undefined;
    let c1: string | undefined;
    const lateAnswer: RecallClient = {
      ...realRecall,
      async createZoomOAuthCredential(input) {
        const credential = await realRecall.createZoomOAuthCredential(input);
        c1 = credential.id;
        put2 = await putGrant(userId, grant2);
        return credential;
      },
    };

    // Act
    const put1 = await registerUser(userId, tokensOf(grant1), inProcess(lateAnswer));

    // Assess
    expect(put2?.status).toBe(200);
    const c2 = put2!.json.recall_credential_id;
    expect(c2).not.toBe(c1);
    expect(
      recall
        .credentials()
        .filter((c) => c.user_id === 'zoom-race')
        .map((c) => c.id),
    ).toEqual([c2]);
    expect(put1.user.recall.credentialId).toBe(c2);
    const status = await call('GET', credentialPath(userId));
    expect(status.json).toMatchObject({ status: 'active', recall_status: 'registered', recall_credential_id: c2 });
    expect((await recall.fetchToken(c2)).body).toBe(grant2.access_token);
  });
});

describe('an outdated PUT in the conflict path', () => {
  test("deletes nothing once a newer PUT took over: the newer one's credential survives", async () => {
    // Prepare: just as PUT 1 creates its credential, PUT 2 (new tokens, same Zoom user) goes
    // through end to end; PUT 1 then meets Recall's conflict over PUT 2's credential.
    const userId = newUserId('outdated');
    const first = await putGrant(userId, grantFor('zoom-outdated'));
    expect(first.status).toBe(201);
    await deleteAtRecall(first.json.recall_credential_id);
    const older = grantFor('zoom-outdated');
    const newer = grantFor('zoom-outdated');
    let put2: Answer | undefined;
    const afterNewerPut: RecallClient = {
      ...realRecall,
      async createZoomOAuthCredential(input) {
        // PUT 2 runs first, so Recall answers PUT 1 with the conflict over PUT 2's credential.
        put2 ??= await putGrant(userId, newer);
        return realRecall.createZoomOAuthCredential(input);
      },
    };

    // Act
    const put1 = await registerUser(userId, tokensOf(older), inProcess(afterNewerPut));

    // Assess
    expect(put2?.status).toBe(200);
    const newerCredential = put2!.json.recall_credential_id;
    expect(
      recall
        .credentials()
        .filter((c) => c.user_id === 'zoom-outdated')
        .map((c) => c.id),
    ).toEqual([newerCredential]);
    expect(put1.user.recall.credentialId).toBe(newerCredential);
    expect((await recall.fetchToken(newerCredential)).body).toBe(newer.access_token);
  });
});

describe('GET, access-token and DELETE', () => {
  test('GET shows the status fields and never a token', async () => {
    // Prepare
    const userId = newUserId('status');
    const grant = grantFor('zoom-status');
    const put = await putGrant(userId, grant);
    expect(put.status).toBe(201);

    // Act
    const answer = await call('GET', credentialPath(userId));

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      user_id: userId,
      status: 'active',
      token_status: 'active',
      access_token_expires_at: put.json.access_token_expires_at,
      recall_status: 'registered',
      recall_credential_id: put.json.recall_credential_id,
      recall_last_error: null,
      last_refresh_at: null,
      last_error: null,
      reauth_required: null,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
      bot_token_kinds: ['obf', 'zak', 'join_token'],
      zoom_scopes: grant.scope.split(' '),
    });
    expect(answer.text).not.toContain(grant.access_token);
    expect(answer.text).not.toContain(grant.refresh_token);
  });

  test('GET /access-token answers the stored access token and its expiry', async () => {
    // Prepare
    const userId = newUserId('access');
    const grant = grantFor('zoom-access');
    const put = await putGrant(userId, grant);
    expect(put.status).toBe(201);

    // Act
    const answer = await call('GET', `${credentialPath(userId)}/access-token`);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ access_token: grant.access_token, expires_at: put.json.access_token_expires_at });
    expect(answer.text).not.toContain(grant.refresh_token);
  });

  test('DELETE removes the credential at Recall and the record; a second DELETE is still 204', async () => {
    // Prepare
    const userId = newUserId('delete');
    const put = await putGrant(userId, grantFor('zoom-delete'));
    expect(put.status).toBe(201);
    const credentialId = put.json.recall_credential_id;
    expect(recall.credentials().map((c) => c.id)).toContain(credentialId);

    // Act
    const deleted = await call('DELETE', credentialPath(userId));
    const after = await call('GET', credentialPath(userId));
    const tokenAfter = await call('GET', `${credentialPath(userId)}/access-token`);
    const deletedAgain = await call('DELETE', credentialPath(userId));

    // Assess
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect(recall.credentials().map((c) => c.id)).not.toContain(credentialId);
    expect(after.status).toBe(404);
    expect(after.json.error).toBe('not_found');
    expect(tokenAfter.status).toBe(404);
    expect(deletedAgain.status).toBe(204);
  });

  test('registering again after DELETE creates a new, live credential at Recall', async () => {
    // Prepare
    const userId = newUserId('reborn');
    const first = await putGrant(userId, grantFor('zoom-reborn'));
    expect(first.status).toBe(201);
    expect((await call('DELETE', credentialPath(userId))).status).toBe(204);
    const grant = grantFor('zoom-reborn');

    // Act
    const answer = await putGrant(userId, grant);

    // Assess
    expect(answer.status).toBe(201);
    expect(answer.json.status).toBe('active');
    expect(answer.json.recall_credential_id).not.toBe(first.json.recall_credential_id);
    const held = recall.credentials().filter((c) => c.user_id === 'zoom-reborn');
    expect(held.map((c) => c.id)).toEqual([answer.json.recall_credential_id]);
    const fetched = await recall.fetchToken(answer.json.recall_credential_id);
    expect(fetched.body).toBe(grant.access_token);
  });
});

describe('validation', () => {
  const SECRET_ACCESS = 'secret-access-token-value-0123456789';
  const SECRET_REFRESH = 'secret-refresh-token-value-0123456789';
  const valid = { access_token: SECRET_ACCESS, refresh_token: SECRET_REFRESH, expires_in: 3600, token_type: 'bearer' };
  const { expires_in: _omit, ...withoutExpiry } = valid;
  const { access_token: _omitAccess, ...withoutAccess } = valid;

  const cases: Array<[string, unknown, string]> = [
    ['missing access_token', withoutAccess, 'access_token'],
    ['refresh_token a number', { ...valid, refresh_token: 12345 }, 'refresh_token'],
    ['expires_in 0', { ...valid, expires_in: 0 }, 'expires_in'],
    ['expires_in -5', { ...valid, expires_in: -5 }, 'expires_in'],
    ['expires_in 1.5', { ...valid, expires_in: 1.5 }, 'expires_in'],
    ['expires_in a string', { ...valid, expires_in: '3600' }, 'expires_in'],
    ['both expires_in and expires_at', { ...valid, expires_at: new Date(Date.now() + HOUR_MS).toISOString() }, 'expires_in'],
    ['neither expires_in nor expires_at', withoutExpiry, 'expires_in'],
    ['expires_at in the past', { ...withoutExpiry, expires_at: new Date(Date.now() - 60_000).toISOString() }, 'expires_at'],
  ];

  test.each(cases)('%s → 400 naming the field, no echo, nothing stored', async (_name, body, field) => {
    // Prepare
    const userId = newUserId('invalid');
    const before = recall.requests().length;

    // Act
    const answer = await putGrant(userId, body as object);

    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: 'invalid_request', field });
    expect(answer.text).not.toContain(SECRET_ACCESS);
    expect(answer.text).not.toContain(SECRET_REFRESH);
    expect(requestsSince(before)).toEqual([]);
    expect((await call('GET', credentialPath(userId))).status).toBe(404);
  });

  test.each([
    ['a non-JSON body', `{"access_token": "${SECRET_ACCESS}", `],
    ['an empty body', ''],
  ])('%s → 400 naming the body, no echo', async (_name, raw) => {
    // Prepare
    const userId = newUserId('raw');

    // Act
    const answer = await call('PUT', credentialPath(userId), { body: raw });

    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: 'invalid_request', field: 'body' });
    expect(answer.text).not.toContain(SECRET_ACCESS);
  });

  test.each([
    ['an encoded space', 'bad%20id'],
    ['200 characters', 'a'.repeat(200)],
    ['unicode', encodeURIComponent('usér-ü')],
    ['a leading dot', '.hidden'],
  ])('a user id with %s → 400 naming userId', async (_name, rawId) => {
    // Act
    const put = await call('PUT', `/users/${rawId}/zoom-credential`, { body: valid });
    const get = await call('GET', `/users/${rawId}/zoom-credential`);
    const del = await call('DELETE', `/users/${rawId}/zoom-credential`);

    // Assess
    for (const answer of [put, get, del]) {
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ error: 'invalid_request', field: 'userId' });
    }
    expect(put.text).not.toContain(SECRET_ACCESS);
  });

  test('a body over 16 KB → 413', async () => {
    // Prepare
    const userId = newUserId('large');
    const body = { ...valid, scope: 'x'.repeat(17 * 1024) };

    // Act
    const answer = await putGrant(userId, body);

    // Assess
    expect(answer.status).toBe(413);
    expect(answer.json.error).toBe('payload_too_large');
    expect(answer.text).not.toContain(SECRET_ACCESS);
    expect((await call('GET', credentialPath(userId))).status).toBe(404);
  });

  test('GET for an unknown user → 404', async () => {
    // Act
    const status = await call('GET', credentialPath(newUserId('nobody')));
    const token = await call('GET', `${credentialPath(newUserId('nobody'))}/access-token`);

    // Assess
    expect(status.status).toBe(404);
    expect(status.json).toMatchObject({ error: 'not_found' });
    expect(token.status).toBe(404);
  });

  test.each([
    ['no bearer', null],
    ['a wrong bearer', 'not-the-admin-token'],
  ])('%s → 401 and nothing stored', async (_name, token) => {
    // Prepare
    const userId = newUserId('unauth');
    const before = recall.requests().length;

    // Act
    const put = await call('PUT', credentialPath(userId), { body: grantFor('zoom-unauth'), token });
    const get = await call('GET', credentialPath(userId), { token });

    // Assess
    expect(put.status).toBe(401);
    expect(get.status).toBe(401);
    expect(requestsSince(before)).toEqual([]);
    expect((await call('GET', credentialPath(userId))).status).toBe(404);
  });
});

describe('Recall failures', () => {
  test('a 429 with Retry-After is waited out and retried: 201', async () => {
    // Prepare
    const userId = newUserId('throttled');
    recall.failNext(1, { status: 429, retryAfterSeconds: 1 });
    const before = recall.requests().length;
    const startedAt = Date.now();

    // Act
    const answer = await putGrant(userId, grantFor('zoom-throttled'));

    // Assess
    expect(answer.status).toBe(201);
    expect(answer.json.status).toBe('active');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(950);
    const posts = requestsSince(before).filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[1].idempotencyKey).toBe(posts[0].idempotencyKey);
    expect(recall.credentials().map((c) => c.id)).toContain(answer.json.recall_credential_id);
  });

  test('two 503s are retried: 201 on the third attempt', async () => {
    // Prepare
    const userId = newUserId('flaky');
    recall.failNext(2, { status: 503 });
    const before = recall.requests().length;

    // Act
    const answer = await putGrant(userId, grantFor('zoom-flaky'));

    // Assess
    expect(answer.status).toBe(201);
    expect(answer.json.status).toBe('active');
    expect(requestsSince(before).filter((r) => r.method === 'POST')).toHaveLength(3);
    expect(
      recall
        .credentials()
        .filter((c) => c.user_id === 'zoom-flaky')
        .map((c) => c.id),
    ).toEqual([answer.json.recall_credential_id]);
  });

  test('Recall down: 502 naming 503, tokens kept and served, status recall_failed; a plain retry finishes it', async () => {
    // Prepare
    const userId = newUserId('down');
    const grant = grantFor('zoom-down');
    recall.failNext(10, { status: 503 });

    // Act
    const failed = await putGrant(userId, grant);
    const statusAfterFailure = await call('GET', credentialPath(userId));
    const tokenAfterFailure = await call('GET', `${credentialPath(userId)}/access-token`);
    await drainRecallFailures();
    const retried = await putGrant(userId, grant);

    // Assess
    expect(failed.status).toBe(502);
    expect(failed.json).toMatchObject({ error: 'recall_error', upstream_status: 503 });
    expect(failed.text).not.toContain(grant.access_token);
    expect(statusAfterFailure.status).toBe(200);
    expect(statusAfterFailure.json).toMatchObject({
      status: 'recall_failed',
      token_status: 'active',
      recall_status: 'failed',
      recall_credential_id: null,
      recall_last_error: { code: 'recall_503' },
    });
    expect(tokenAfterFailure.status).toBe(200);
    expect(tokenAfterFailure.json.access_token).toBe(grant.access_token);

    expect(retried.status).toBe(200);
    expect(retried.json.status).toBe('active');
    expect(retried.json.recall_status).toBe('registered');
    const held = recall.credentials().filter((c) => c.user_id === 'zoom-down');
    expect(held.map((c) => c.id)).toEqual([retried.json.recall_credential_id]);
    expect((await recall.fetchToken(retried.json.recall_credential_id)).body).toBe(grant.access_token);
  });

  test('Recall hanging: 502 with time left in the function to record it, status recall_failed', async () => {
    // Prepare: three 3 s attempts (25 s budget) would outlast the function's 6 s.
    const userId = newUserId('hang');
    recall.failNext(5, 'hang');
    const requestsBefore = recall.requests().length;

    // Act
    const answer = await putGrant(userId, grantFor('zoom-hang'));
    const status = await call('GET', credentialPath(userId));

    // Assess
    expect(answer.status).toBe(502);
    expect(answer.json.error).toBe('recall_error');
    expect(answer.json.message).toMatch(/timeout/);
    // One attempt, cut at the function's deadline less its reserve (3 s), not three of 3 s each:
    // counted, not timed, so a busy machine changes nothing.
    expect(recall.requests().length - requestsBefore).toBe(1);
    expect(status.json).toMatchObject({ status: 'recall_failed', recall_last_error: { code: 'recall_error' } });
  });

  test("Recall rejecting the callback token: 502 with Recall's 400 detail, status recall_failed", async () => {
    // Prepare
    const userId = newUserId('rejected');
    const body = { access_token: 'not-a-zoom-token', refresh_token: 'not-a-zoom-refresh-token', expires_in: 3600 };

    // Act
    const answer = await putGrant(userId, body);
    const status = await call('GET', credentialPath(userId));

    // Assess
    expect(answer.status).toBe(502);
    expect(answer.json).toMatchObject({
      error: 'recall_error',
      upstream_status: 400,
      upstream_detail: 'The access token callback did not return a valid Zoom access token.',
    });
    expect(answer.text).not.toContain('not-a-zoom-refresh-token');
    expect(status.json).toMatchObject({ status: 'recall_failed', recall_status: 'failed', recall_last_error: { code: 'recall_400' } });
  });
});

describe('a Zoom user already registered at Recall', () => {
  test('registering another app user for the same Zoom user replaces the stale credential', async () => {
    // Prepare
    const userA = newUserId('owner-a');
    const userB = newUserId('owner-b');
    const a = await putGrant(userA, grantFor('zoom-shared'));
    expect(a.status).toBe(201);
    const before = recall.requests().length;
    const grantB = grantFor('zoom-shared');

    // Act
    const b = await putGrant(userB, grantB);

    // Assess
    expect(b.status).toBe(201);
    expect(b.json.status).toBe('active');
    expect(b.json.recall_credential_id).toEqual(expect.any(String));
    expect(b.json.recall_credential_id).not.toBe(a.json.recall_credential_id);
    const held = recall.credentials().filter((c) => c.user_id === 'zoom-shared');
    expect(held.map((c) => c.id)).toEqual([b.json.recall_credential_id]);
    expect(new URL(held[0].access_token_callback_url).searchParams.get('user_id')).toBe(userB);
    const calls = requestsSince(before).map((r) => r.method);
    expect(calls).toEqual(['POST', 'GET', 'DELETE', 'POST']);
    const posts = requestsSince(before).filter((r) => r.method === 'POST');
    expect(posts[1].idempotencyKey).not.toBe(posts[0].idempotencyKey);
    expect((await recall.fetchToken(b.json.recall_credential_id)).body).toBe(grantB.access_token);
    // The former owner no longer claims a live credential.
    const statusA = await call('GET', credentialPath(userA));
    expect(statusA.json).toMatchObject({
      status: 'recall_failed',
      recall_status: 'failed',
      recall_last_error: { code: 'recall_replaced' },
    });
  });

  test("only the conflicting Zoom user's credentials are deleted, whatever Recall's list returns", async () => {
    // Prepare: a list that ignores the user_id filter and answers the whole app's credentials.
    const bystander = await putGrant(newUserId('listed'), grantFor('zoom-listed-bystander'));
    const owner = await putGrant(newUserId('contested-a'), grantFor('zoom-contested'));
    expect([bystander.status, owner.status]).toEqual([201, 201]);
    const unfiltered: RecallClient = {
      ...realRecall,
      listZoomOAuthCredentials: ({ oauthAppId }) => realRecall.listZoomOAuthCredentials({ oauthAppId }),
    };
    const userId = newUserId('contested-b');
    const before = recall.credentials().map((c) => c.id);

    // Act
    const { user } = await registerUser(userId, tokensOf(grantFor('zoom-contested')), inProcess(unfiltered));

    // Assess
    expect(user.recall).toMatchObject({ status: 'registered' });
    const after = recall.credentials().map((c) => c.id);
    expect(after).not.toContain(owner.json.recall_credential_id);
    expect(after).toEqual([...before.filter((id) => id !== owner.json.recall_credential_id), user.recall.credentialId]);
  });

  describe('an account-level conflict', () => {
    /** A scripted Recall for account-level apps (the fake has user-level apps only). */
    function accountLevelRecall(listed: Array<{ id: string; zoomAccountId?: string; zoomUserId?: string }>) {
      const calls: string[] = [];
      let creates = 0;
      const client: RecallClient = {
        async createZoomOAuthCredential() {
          calls.push('create');
          creates += 1;
          if (creates === 1) throw new RecallConflictError(undefined, 'acct-7', 'A credential for this Zoom account already exists.');
          return { id: 'cred-acct-7-new', zoomAccountId: 'acct-7' };
        },
        async listZoomOAuthCredentials(filter) {
          calls.push(`list ${JSON.stringify(filter)}`);
          return listed;
        },
        async getZoomOAuthCredential() {
          return undefined;
        },
        async deleteZoomOAuthCredential(id) {
          calls.push(`delete ${id}`);
        },
      };
      return { client, calls };
    }

    test("lists the app's credentials and deletes only the account's", async () => {
      // Prepare
      const { client, calls } = accountLevelRecall([
        { id: 'cred-acct-1', zoomAccountId: 'acct-1' },
        { id: 'cred-user-acct-7', zoomUserId: 'acct-7' },
        { id: 'cred-acct-7-old', zoomAccountId: 'acct-7' },
      ]);
      const userId = newUserId('account');

      // Act
      const { user } = await registerUser(userId, tokensOf(grantFor('zoom-account')), inProcess(client));

      // Assess
      expect(calls).toEqual(['create', `list {"oauthAppId":"${DEMO_OAUTH_APP_ID}"}`, 'delete cred-acct-7-old', 'create']);
      expect(user.recall).toMatchObject({ status: 'registered', credentialId: 'cred-acct-7-new' });
    });

    test('when the list has none of the account, nothing is deleted and the PUT fails naming the conflict', async () => {
      // Prepare
      const { client, calls } = accountLevelRecall([{ id: 'cred-acct-1', zoomAccountId: 'acct-1' }]);
      const userId = newUserId('account-missing');

      // Act
      const error = await registerUser(userId, tokensOf(grantFor('zoom-account-missing')), inProcess(client)).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).message).toMatch(/Zoom account acct-7/);
      expect(calls.filter((c) => c.startsWith('delete'))).toEqual([]);
      const status = await call('GET', credentialPath(userId));
      expect(status.json).toMatchObject({ status: 'recall_failed', recall_last_error: { code: 'recall_400' } });
    });
  });
});
