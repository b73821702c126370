import { sealedTokensOf } from '../../functions/domain/token-record';
/**
 * Refreshing through the whole HTTP runtime: the real callback, admin, dispatcher and refresh
 * worker handlers wired through the in-process refresh queue, dynalite, the KMS stand-in, and the
 * embedded fake Recall and fake Zoom (whose refresh tokens are single-use). The callback never
 * waits on Zoom (issue #12): with Zoom hanging it still answers at once, from the stored token
 * when Recall would accept it, else 503 within its budget; the workers refresh exactly once.
 *
 * One runtime for the whole file: the handlers read their configuration once, at import.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import type { DispatchSummary } from '../../functions/domain/dispatch';
import type { RefreshRequest } from '../../functions/domain/ports';
import { dispatcherDepsFromEnv, workerDepsFromEnv } from '../../functions/handlers/composition';
import { makeDispatcherHandler } from '../../functions/handlers/dispatcher';
import { makeRefreshWorkerHandler } from '../../functions/handlers/refresh-worker';
import { lambdaContext } from '../../local/api-gateway';
import { TABLE_NAME } from '../../local/dynamo';
import { LocalRefreshQueue } from '../../local/refresh-queue';
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
  dynamoClient = new DynamoDBClient({
    endpoint: runtime.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  kmsClient = new KMSClient({
    endpoint: runtime.kms.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  store = new DynamoTokenStore({ client: dynamoClient, tableName: TABLE_NAME });
  cipher = new KmsEnvelopeCipher({ kms: kmsClient, keyId: runtime.kms.keyArn('local-token-key') });
});

afterAll(async () => {
  dynamoClient?.destroy();
  kmsClient?.destroy();
  await runtime?.close();
});

const admin = (method: string, path: string, body?: object) => adminCall(runtime, method, path, body);

/**
 * Waits until `condition` holds, polling. The bound only turns a hang into a failure: it is far
 * beyond what any condition here takes, however busy the machine.
 */
async function until(condition: () => boolean | Promise<boolean>, what: string, boundMs = 60_000): Promise<void> {
  const giveUpAt = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A registered user whose stored access token has `secondsLeft`; returns its callback URL. */
async function registeredUser(userId: string, zoomUserId: string, secondsLeft: number) {
  const registered = await admin('PUT', `/users/${userId}/zoom-credential`, zoom.authorize(zoomUserId, { expiresInSeconds: 3600 }));
  expect(registered.status).toBe(201);
  const user = await store.get(userId, { consistent: true });
  await store.update(
    userId,
    { registrationId: user!.registrationId, version: user!.version },
    { status: 'active', accessTokenExpiresAt: Date.now() + secondsLeft * 1000 },
  );
  const stored = await cipher.open(user!, sealedTokensOf(user!));
  const callbackUrl = recall
    .credentials()
    .find((credential) => credential.id === registered.json.recall_credential_id)!.access_token_callback_url;
  return { callbackUrl, stored, credentialId: registered.json.recall_credential_id as string };
}

async function callback(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

test('Zoom hanging: 50 concurrent callbacks for a token with >= 150 s left all get the stored token at once; once Zoom answers, one refresh', async () => {
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
  expect(
    recall
      .requests()
      .slice(recallRequestsAfterFirst)
      .map((request) => request.method),
  ).toEqual(['GET']);
  expect(zoom.stats()).toEqual({ refreshCalls: 0, refreshOk: 0, invalidGrant: 0 });
  const credentials = recall.credentials().filter((credential) => credential.user_id === zoomUserId);
  expect(credentials).toHaveLength(1);
  const callbackUrl = credentials[0].access_token_callback_url;
  const before = await store.get(userId, { consistent: true });
  expect(before?.tokenGeneration).toBe(2);

  // Act: Zoom hangs; Recall calls 50 times at once while a sweep runs.
  const hang = zoom.hold();
  const deliveriesBefore = runtime.refreshQueue.deliveries;
  const sweep = runtime.sweep() as Promise<DispatchSummary>;
  const answers = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const response = await fetch(callbackUrl);
      return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
    }),
  );
  await until(() => hang.waiting() === 1, 'a worker waits on Zoom');
  const whileHanging = zoom.stats();
  hang.release();
  const summary = await sweep;
  await runtime.refreshQueue.drain();

  // Assess: every callback served the stored token, none waited for Zoom.
  expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
  expect(answers.every((answer) => /^text\/plain/.test(answer.contentType ?? ''))).toBe(true);
  expect(answers.filter((answer) => answer.body === expiring.access_token)).toHaveLength(50);
  expect(whileHanging).toEqual({ refreshCalls: 1, refreshOk: 0, invalidGrant: 0 });
  expect(zoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
  expect(summary).toMatchObject({ due: 1, dispatched: 1, deferred: 0 });
  // 50 serve requests and the dispatch's one, each delivered at least once.
  expect(runtime.refreshQueue.deliveries - deliveriesBefore).toBeGreaterThanOrEqual(51);
  expect(runtime.refreshQueue.deadLetters).toEqual([]);

  const after = await store.get(userId, { consistent: true });
  expect(after?.tokenGeneration).toBe(3);
  expect(after?.lease).toBeUndefined();
  const tokens = await cipher.open(after!, sealedTokensOf(after!));
  const accessToken = tokens.accessToken;
  expect(accessToken).not.toBe(expiring.access_token);
  const verified = zoom.verifyAccessToken(accessToken);
  expect(verified?.zoomUserId).toBe(zoomUserId);
  expect(verified!.expiresAt - Date.now()).toBeGreaterThanOrEqual(120_000);
  expect(tokens.refreshToken).toBe(zoom.currentRefreshToken(zoomUserId));

  const status = await admin('GET', `/users/${userId}/zoom-credential`);
  expect(status.status).toBe(200);
  expect(status.json).toMatchObject({
    status: 'active',
    token_status: 'active',
    recall_status: 'registered',
    last_error: null,
    reauth_required: null,
  });
  expect(status.json.last_refresh_at).toMatch(ISO);
  expect(Date.parse(status.json.last_refresh_at)).toBe(after!.lastRefreshAt);
  expect(Date.parse(status.json.access_token_expires_at)).toBe(after!.accessTokenExpiresAt);

  // Act: Recall asks again, and the next sweep runs: nothing left to refresh.
  const recheck = await recall.fetchToken(credentials[0].id);
  const nextSweep = (await runtime.sweep()) as DispatchSummary;

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
    const okBefore = zoom.stats().refreshOk;
    const summary = (await runtime.sweep()) as DispatchSummary;
    expect(summary).toMatchObject({ due: 1, dispatched: 1, deferred: 0 });
    expect(zoom.stats().refreshOk - okBefore).toBe(1);
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
  expect((await cipher.open(stored!, sealedTokensOf(stored!))).refreshToken).toBe(zoom.currentRefreshToken(zoomUserId));
  zoom.setAccessTokenTtl(3600);
});

test('Zoom hanging, a token below 150 s: every callback and the access-token route answer 503; once Zoom answers, the next callback serves the new token', async () => {
  // Prepare: a registered user whose token has 100 s left (below what Recall would accept).
  const userId = 'runtime-zoom-hangs-user';
  const { callbackUrl, stored } = await registeredUser(userId, 'zoom-hangs', 100);
  const before = zoom.stats();
  const hang = zoom.hold();

  // Act: Recall calls five times at once, the backend asks the admin route, all while Zoom hangs.
  const [callbacks, viaAdmin] = await Promise.all([
    Promise.all(Array.from({ length: 5 }, () => callback(callbackUrl))),
    admin('GET', `/users/${userId}/zoom-credential/access-token`),
  ]);
  const whileHanging = zoom.stats();
  hang.release();
  await runtime.refreshQueue.drain();
  const retried = await callback(callbackUrl);

  // Assess: no answer waited for Zoom beyond its budget; one refresh, stored, served next.
  expect(callbacks.map((answer) => answer.status)).toEqual(Array(5).fill(503));
  expect(callbacks.every((answer) => answer.body === 'token unavailable')).toBe(true);
  expect(viaAdmin.status).toBe(503);
  expect(viaAdmin.json).toMatchObject({ error: 'refresh_in_progress' });
  expect(whileHanging.refreshCalls - before.refreshCalls).toBe(1);
  expect(whileHanging.refreshOk - before.refreshOk).toBe(0);
  expect(zoom.stats().refreshOk - before.refreshOk).toBe(1);
  expect(zoom.stats().invalidGrant).toBe(before.invalidGrant);
  expect(retried.status).toBe(200);
  expect(retried.body).not.toBe(stored.accessToken);
  expect(zoom.verifyAccessToken(retried.body)?.zoomUserId).toBe('zoom-hangs');
  const after = await store.get(userId, { consistent: true });
  expect((await cipher.open(after!, sealedTokensOf(after!))).accessToken).toBe(retried.body);
});

test('a transient 503 during a refresh a callback asked for is retried at once: the new token is served', async () => {
  // Prepare
  const userId = 'runtime-zoom-flaky-user';
  const { callbackUrl, stored } = await registeredUser(userId, 'zoom-flaky', 100);
  const before = zoom.stats();
  zoom.failNext(1, { status: 503 });

  // Act: the callback waits for the worker within its answer budget (on a busy machine the
  // budget may run out first: then Recall's next call gets the token).
  const first = await callback(callbackUrl);
  await runtime.refreshQueue.drain();
  const answer = first.status === 200 ? first : await callback(callbackUrl);

  // Assess: one retry at Zoom, without waiting for another dispatch.
  expect(answer.status).toBe(200);
  expect(answer.body).not.toBe(stored.accessToken);
  expect(zoom.verifyAccessToken(answer.body)?.zoomUserId).toBe('zoom-flaky');
  expect(zoom.stats().refreshCalls - before.refreshCalls).toBe(2);
  expect(zoom.stats().refreshOk - before.refreshOk).toBe(1);
});

test("DELETE and re-registration with another Zoom user while a refresh waits on Zoom past the lease renewal: the new registration serves its own user's token (issue 18, finding 1)", async () => {
  // Prepare: whatever earlier tests left due refreshed first; then alice registered with Zoom
  // user A, made due; a sweep's worker leases her record and waits on Zoom (held).
  await runtime.sweep();
  const userId = 'runtime-reregistered-user';
  await registeredUser(userId, 'zoom-a-reregistered', 200);
  const versionLeased = (await store.get(userId, { consistent: true }))!.version + 1;
  const hang = zoom.hold();
  const sweep = runtime.sweep();
  await until(() => hang.waiting() === 1, 'the worker waits on Zoom');

  // Act: the backend deletes alice and registers her again with a grant of Zoom user B (brought
  // to the version of the old lease: the condition the renewal used to take); then the worker's
  // next lease renewal (every 10 s), then Zoom's answer.
  expect((await admin('DELETE', `/users/${userId}/zoom-credential`)).status).toBe(204);
  const grantB = zoom.authorize('zoom-b-reregistered', { expiresInSeconds: 3600 });
  const put = await admin('PUT', `/users/${userId}/zoom-credential`, grantB);
  expect(put.status).toBe(201);
  for (
    let current = await store.get(userId, { consistent: true });
    current!.version < versionLeased;
    current = await store.get(userId, { consistent: true })
  ) {
    await store.update(userId, { registrationId: current!.registrationId, version: current!.version }, { updatedAt: Date.now() });
  }
  const writesBefore = runtime.dynamo.counts().UpdateItem ?? 0;
  await until(() => (runtime.dynamo.counts().UpdateItem ?? 0) > writesBefore, "the worker's lease renewal");
  hang.release();
  await sweep;

  // Assess: the new registration's record, its admin token and its callback (through Recall) are B's.
  const record = await store.get(userId, { consistent: true });
  expect(record).toMatchObject({ status: 'active', tokenGeneration: 1 });
  expect((await cipher.open(record!, sealedTokensOf(record!))).refreshToken).toBe(grantB.refresh_token);
  const viaAdmin = await admin('GET', `/users/${userId}/zoom-credential/access-token`);
  const viaCallback = await recall.fetchToken(put.json.recall_credential_id);
  expect(zoom.verifyAccessToken(viaAdmin.json.access_token)?.zoomUserId).toBe('zoom-b-reregistered');
  expect(viaCallback.status).toBe(200);
  expect(zoom.verifyAccessToken(viaCallback.body)?.zoomUserId).toBe('zoom-b-reregistered');
}, 90_000);

describe('the queue between the dispatcher and the workers (at least once)', () => {
  /** A queue of its own, delivering to a refresh worker built from the runtime's environment. */
  function queueWithWorker(options: ConstructorParameters<typeof LocalRefreshQueue>[0]) {
    const queue = new LocalRefreshQueue(options);
    const worker = makeRefreshWorkerHandler(workerDepsFromEnv(runtime.handlerEnv));
    queue.attach((event) => worker(event, lambdaContext('refresh-worker', 60_000)));
    return queue;
  }

  test('a user handed out twice is refreshed exactly once', async () => {
    // Prepare: whatever earlier tests left due refreshed first; then one due user, and a queue
    // that delivers every message twice.
    await runtime.sweep();
    const userId = 'runtime-duplicate-user';
    await registeredUser(userId, 'zoom-duplicate', 200);
    const queue = queueWithWorker({ concurrency: 2, batchSize: 1, duplicateEvery: 1 });
    const dispatcher = makeDispatcherHandler(dispatcherDepsFromEnv(runtime.handlerEnv, { refreshQueue: queue }));
    const before = zoom.stats();
    const generationBefore = (await store.get(userId, { consistent: true }))!.tokenGeneration;

    // Act
    const summary = (await dispatcher({}, lambdaContext('dispatcher', 60_000))) as DispatchSummary;
    await queue.drain();
    queue.close();

    // Assess
    expect(summary).toMatchObject({ due: 1, dispatched: 1 });
    expect(queue.deliveries).toBe(2);
    expect(queue.deadLetters).toEqual([]);
    expect(zoom.stats().refreshCalls - before.refreshCalls).toBe(1);
    expect(zoom.stats().refreshOk - before.refreshOk).toBe(1);
    const after = await store.get(userId, { consistent: true });
    expect(after).toMatchObject({ status: 'active', tokenGeneration: generationBefore + 1 });
    expect((await cipher.open(after!, sealedTokensOf(after!))).refreshToken).toBe(zoom.currentRefreshToken('zoom-duplicate'));
  });

  test('a poison message is redelivered until it ends in the dead letters', async () => {
    // Prepare
    const queue = queueWithWorker({ concurrency: 1, visibilityTimeoutMs: 10, maxReceiveCount: 3 });
    const before = zoom.stats();

    // Act: a request no worker can read (an unknown reason), and one naming no valid user id.
    await queue.enqueue([{ userId: 'someone', reason: 'whatever' } as unknown as RefreshRequest]);
    await queue.enqueue([{ userId: '../not a user id', reason: 'due' }]);
    await queue.drain();
    queue.close();

    // Assess
    expect(queue.deadLetters.map((letter) => letter.receiveCount)).toEqual([3, 3]);
    expect(queue.deadLetters.map((letter) => JSON.parse(letter.body).userId).sort()).toEqual(['../not a user id', 'someone']);
    expect(queue.deliveries).toBe(6);
    expect(zoom.stats()).toEqual(before);
  });
});
