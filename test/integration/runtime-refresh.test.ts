/**
 * The refresh race through the whole HTTP runtime: the real callback, admin and refresher
 * handlers, dynalite, the KMS stand-in, and the embedded fake Recall and fake Zoom (whose refresh
 * tokens are single-use). 50 concurrent Recall-style callback GETs and a refresher sweep hit a user
 * whose access token is inside the serve margin: Zoom must see exactly one refresh.
 *
 * One runtime for the whole file: the handlers read their configuration once, at import.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import type { SweepSummary } from '../../functions/domain/sweep';
import { TABLE_NAME } from '../../local/dynamo';
import type { FakeRecall } from '../../local/fakes/fake-recall';
import type { FakeZoom } from '../../local/fakes/fake-zoom';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let runtime: LocalRuntime;
let zoom: FakeZoom;
let recall: FakeRecall;
let dynamoClient: DynamoDBClient;
let kmsClient: KMSClient;
let store: DynamoTokenStore;
let cipher: KmsEnvelopeCipher;

beforeAll(async () => {
  runtime = await startTestRuntime();
  zoom = runtime.fakeZoom!;
  recall = runtime.fakeRecall!;
  // A direct look at the table, for the assertions only.
  dynamoClient = new DynamoDBClient({ endpoint: runtime.dynamoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  kmsClient = new KMSClient({ endpoint: runtime.kms.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  store = new DynamoTokenStore({ client: dynamoClient, tableName: TABLE_NAME });
  cipher = new KmsEnvelopeCipher({ kms: kmsClient, keyId: runtime.kms.keyArn('local-token-key') });
});

afterAll(async () => {
  dynamoClient?.destroy();
  kmsClient?.destroy();
  await runtime?.close();
});

const admin = (method: string, path: string, body?: object) => adminCall(runtime, method, path, body);

test('50 concurrent callbacks and a sweep on an expiring token: one Zoom refresh, the same token for all', async () => {
  // Prepare: register with a fresh grant (Recall's validation call needs no refresh), then store a
  // new grant that expires in 200 s (inside the 300 s serve margin). The second PUT finds the
  // credential registered with the active key: Recall is only asked whether it still has it.
  const userId = 'runtime-race-user';
  const zoomUserId = 'zoom-runtime-race';
  const first = await admin('PUT', `/users/${userId}/zoom-credential`, zoom.authorize(zoomUserId, { expiresInSeconds: 3600 }));
  const recallRequestsAfterFirst = recall.requests().length;
  const expiring = zoom.authorize(zoomUserId, { expiresInSeconds: 200 });
  const second = await admin('PUT', `/users/${userId}/zoom-credential`, expiring);
  expect(first.status).toBe(201);
  expect(first.json.recall_status).toBe('registered');
  expect(second.status).toBe(200);
  expect(second.json.recall_status).toBe('registered');
  expect(second.json.last_refresh_at).toBeNull();
  expect(recall.requests().slice(recallRequestsAfterFirst).map((request) => request.method)).toEqual(['GET']);
  expect(zoom.stats()).toEqual({ refreshCalls: 0, refreshOk: 0, invalidGrant: 0 });
  const credentials = recall.credentials().filter((credential) => credential.user_id === zoomUserId);
  expect(credentials).toHaveLength(1);
  const callbackUrl = credentials[0].access_token_callback_url;
  const before = await store.get(userId, { consistent: true });
  expect(before?.tokenGeneration).toBe(2);

  // Act
  const [answers, summary] = await Promise.all([
    Promise.all(
      Array.from({ length: 50 }, async () => {
        const response = await fetch(callbackUrl);
        return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
      }),
    ),
    runtime.sweep() as Promise<SweepSummary>,
  ]);

  // Assess
  expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
  expect(answers.every((answer) => /^text\/plain/.test(answer.contentType ?? ''))).toBe(true);
  const bodies = new Set(answers.map((answer) => answer.body));
  expect(bodies.size).toBe(1);
  const [accessToken] = bodies;
  expect(accessToken).not.toBe(expiring.access_token);
  const verified = zoom.verifyAccessToken(accessToken);
  expect(verified?.zoomUserId).toBe(zoomUserId);
  expect(verified!.expiresAt - Date.now()).toBeGreaterThanOrEqual(120_000);
  expect(zoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });

  expect(summary.due).toBe(1);
  expect(summary.refreshed + summary.alreadyFresh + summary.skippedLeaseHeld).toBe(1);
  expect(summary.errors + summary.failedRetryable + summary.grantsDead + summary.unsaved + summary.deferred).toBe(0);

  const after = await store.get(userId, { consistent: true });
  expect(after?.tokenGeneration).toBe(3);
  expect(after?.lease).toBeUndefined();
  const tokens = await cipher.open(userId, after!.sealed);
  expect(tokens.accessToken).toBe(accessToken);
  expect(tokens.refreshToken).toBe(zoom.currentRefreshToken(zoomUserId));

  const status = await admin('GET', `/users/${userId}/zoom-credential`);
  expect(status.status).toBe(200);
  expect(status.json).toMatchObject({ status: 'active', token_status: 'active', recall_status: 'registered', last_error: null, reauth_required: null });
  expect(status.json.last_refresh_at).toMatch(ISO);
  expect(Date.parse(status.json.last_refresh_at)).toBe(after!.lastRefreshAt);
  expect(Date.parse(status.json.access_token_expires_at)).toBe(after!.accessTokenExpiresAt);

  // Act: Recall asks again, and the next sweep runs: nothing left to refresh.
  const recheck = await recall.fetchToken(credentials[0].id);
  const nextSweep = (await runtime.sweep()) as SweepSummary;

  // Assess
  expect(recheck).toMatchObject({ status: 200, body: accessToken });
  expect(recheck.problem).toBeUndefined();
  expect(nextSweep.due).toBe(0);
  expect(zoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
});

test('the refresher keeps a user fresh over many token lifetimes: every sweep refreshes, no grant is lost', async () => {
  // Prepare: Zoom hands out access tokens living 600 s, inside the 900 s refresh window, so every
  // sweep finds the user due — each sweep stands for one token lifetime (an hour with real Zoom).
  const userId = 'runtime-long-lived-user';
  const zoomUserId = 'zoom-long-lived';
  zoom.setAccessTokenTtl(600);
  const registered = await admin('PUT', `/users/${userId}/zoom-credential`, zoom.authorize(zoomUserId, { expiresInSeconds: 600 }));
  expect(registered.status).toBe(201);
  const credentialId = registered.json.recall_credential_id as string;
  const refreshesBefore = zoom.stats().refreshOk;
  const served = new Set<string>();

  // Act: 24 lifetimes, Recall asking for a token after each.
  for (let lifetime = 0; lifetime < 24; lifetime++) {
    const summary = (await runtime.sweep()) as SweepSummary;
    expect(summary).toMatchObject({ due: 1, refreshed: 1, grantsDead: 0, failedRetryable: 0, errors: 0 });
    const fetched = await recall.fetchToken(credentialId);
    expect(fetched.status).toBe(200);
    expect(fetched.problem).toBeUndefined();
    expect(zoom.verifyAccessToken(fetched.body)!.expiresAt - Date.now()).toBeGreaterThan(300_000);
    served.add(fetched.body);
  }

  // Assess: 24 refreshes, 24 distinct tokens served, the stored refresh token still Zoom's current one.
  expect(zoom.stats().refreshOk - refreshesBefore).toBe(24);
  expect(zoom.stats().invalidGrant).toBe(0);
  expect(served.size).toBe(24);
  const stored = await store.get(userId, { consistent: true });
  expect(stored).toMatchObject({ status: 'active', tokenGeneration: 25 });
  expect((await cipher.open(userId, stored!.sealed)).refreshToken).toBe(zoom.currentRefreshToken(zoomUserId));
  zoom.setAccessTokenTtl(3600);
});

test('when Zoom fails and the stored token is too close to expiry: 503 on both the callback and the access-token route', async () => {
  // Prepare: a registered user whose token has 100 s left (below what Recall would accept) and a failing Zoom.
  const userId = 'runtime-zoom-down-user';
  const registered = await admin('PUT', `/users/${userId}/zoom-credential`, zoom.authorize('zoom-down', { expiresInSeconds: 3600 }));
  expect(registered.status).toBe(201);
  const user = await store.get(userId, { consistent: true });
  await store.update(userId, { version: user!.version }, { status: 'active', accessTokenExpiresAt: Date.now() + 100_000 });
  const callbackUrl = recall.credentials().find((credential) => credential.id === registered.json.recall_credential_id)!.access_token_callback_url;
  zoom.failNext(2, { status: 503 });

  // Act
  const viaAdmin = await admin('GET', `/users/${userId}/zoom-credential/access-token`);
  const viaCallback = await fetch(callbackUrl);

  // Assess
  expect(viaAdmin.status).toBe(503);
  expect(viaAdmin.json).toMatchObject({ error: 'refresh_failed' });
  expect(viaCallback.status).toBe(503);
  expect(await viaCallback.text()).toBe('token unavailable');
  const status = await admin('GET', `/users/${userId}/zoom-credential`);
  expect(status.json).toMatchObject({ status: 'active', last_error: { code: 'zoom_unavailable' } });

  // Act: Zoom is back; Recall asks again.
  const retried = await fetch(callbackUrl);

  // Assess
  expect(retried.status).toBe(200);
  expect(zoom.verifyAccessToken(await retried.text())?.zoomUserId).toBe('zoom-down');
});
