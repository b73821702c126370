/**
 * The client against the local runtime (real handlers, dynalite, KMS stand-in, fake Zoom and
 * fake Recall over loopback HTTP), with the runtime's bearer token.
 */
import type { LocalRuntime } from '../../local/runtime';
import { startTestRuntime } from '../support/test-runtime';
import {
  AuthError,
  NotFoundError,
  RecallError,
  ReauthRequiredError,
  ValidationError,
  ZoomTokenVaultClient,
  type VaultError,
} from 'zoom-token-vault-client';

let runtime: LocalRuntime;
let client: ZoomTokenVaultClient;
let requests: Array<{ method: string; path: string }>;

/** fetch, counting the client's requests. */
const countingFetch = ((input: URL | string, init?: RequestInit) => {
  const url = new URL(String(input));
  requests.push({ method: init?.method ?? 'GET', path: url.pathname });
  return fetch(input, init);
}) as typeof fetch;

beforeAll(async () => {
  // A short Recall budget so a failing Recall turns into a 502 quickly.
  runtime = await startTestRuntime({ RECALL_TIMEOUT_MS: '1000', RECALL_BUDGET_MS: '1500' });
  client = new ZoomTokenVaultClient({ baseUrl: runtime.url, auth: { kind: 'bearer', token: runtime.adminToken }, fetch: countingFetch });
}, 30_000);

beforeEach(() => {
  requests = [];
});

afterAll(async () => {
  await runtime?.close();
});

async function failure(promise: Promise<unknown>): Promise<VaultError> {
  try {
    await promise;
  } catch (error) {
    return error as VaultError;
  }
  throw new Error('expected a failure');
}

/** Uses up injected Recall failures the service did not consume. */
async function drainRecallFailures(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const answer = await fetch(`${runtime.fakeRecall!.url}/api/v2/zoom-oauth-credentials/`, {
      headers: { authorization: 'Token test-recall-key' },
    });
    await answer.text();
    if (answer.status === 200) return;
  }
  throw new Error('fake Recall still failing');
}

test('register, get, accessToken, delete: a user through its whole life', async () => {
  // Prepare
  const grant = runtime.fakeZoom!.authorize('zoom-client-life');

  // Act
  const registered = await client.register('client-life', grant);
  const again = await client.register('client-life', grant);
  const status = await client.get('client-life');
  const token = await client.accessToken('client-life');
  await client.delete('client-life');
  await client.delete('client-life'); // already gone: still fine
  const gone = await failure(client.get('client-life'));

  // Assess
  expect(registered.created).toBe(true);
  expect(registered.user).toMatchObject({ user_id: 'client-life', status: 'active', recall_status: 'registered' });
  expect(again.created).toBe(false);
  expect(status.recall_credential_id).toBe(registered.user.recall_credential_id);
  expect(JSON.stringify(status)).not.toContain(grant.access_token);
  expect(token.accessToken).toBe(grant.access_token);
  expect(Date.parse(token.expiresAt)).toBeGreaterThan(Date.now() + 300_000);
  expect(runtime.fakeRecall!.credentials().some((credential) => credential.user_id === 'zoom-client-life')).toBe(false);
  expect(gone).toBeInstanceOf(NotFoundError);
  expect(requests.map((request) => request.method)).toEqual(['PUT', 'PUT', 'GET', 'GET', 'DELETE', 'DELETE', 'GET']);
});

test('a refused body: ValidationError naming the field, one request, no token in the error', async () => {
  // Prepare
  const grant = runtime.fakeZoom!.authorize('zoom-client-invalid');
  const { refresh_token: _omitted, ...withoutRefreshToken } = grant;

  // Act
  const error = await failure(client.register('client-invalid', withoutRefreshToken as never));
  const badId = await failure(client.get('not a valid id!'));

  // Assess
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).field).toBe('refresh_token');
  expect(badId).toBeInstanceOf(ValidationError);
  expect((badId as ValidationError).field).toBe('userId');
  expect(requests).toHaveLength(2);
  expect(`${error.message} ${error.stack}`).not.toContain(grant.access_token);
});

test('unknown user: NotFoundError for get, accessToken and resync', async () => {
  // Act
  const errors = await Promise.all([
    failure(client.get('client-nobody')),
    failure(client.accessToken('client-nobody')),
    failure(client.resync('client-nobody')),
  ]);

  // Assess
  for (const error of errors) expect(error).toBeInstanceOf(NotFoundError);
  expect(requests).toHaveLength(3);
});

test('Recall failing: RecallError with the upstream status, one PUT; the same PUT again finishes the job', async () => {
  // Prepare
  const grant = runtime.fakeZoom!.authorize('zoom-client-recall-down');
  runtime.fakeRecall!.failNext(30, { status: 500 });

  // Act
  const error = await failure(client.register('client-recall-down', grant));
  await drainRecallFailures();
  const status = await client.get('client-recall-down');
  const retried = await client.register('client-recall-down', grant);

  // Assess
  expect(error).toBeInstanceOf(RecallError);
  expect(error).toMatchObject({ status: 502, code: 'recall_error', upstreamStatus: 500 });
  expect(status.status).toBe('recall_failed');
  expect(retried.user.status).toBe('active');
  expect(requests.map((request) => request.method)).toEqual(['PUT', 'GET', 'PUT']);
}, 20_000);

test('dead grants: ReauthRequiredError from accessToken; list({ status: reauth_required }) is exactly those users', async () => {
  // Prepare: three users; two revoke the app at Zoom and the next sweep finds their grants dead
  const zoom = runtime.fakeZoom!;
  for (const id of ['client-dead-1', 'client-dead-2', 'client-alive'])
    await client.register(id, zoom.authorize(`zoom-${id}`, { expiresInSeconds: 600 }));
  zoom.revoke('zoom-client-dead-1');
  zoom.revoke('zoom-client-dead-2');
  await runtime.sweep();
  requests = [];

  // Act
  const error = await failure(client.accessToken('client-dead-1'));
  const firstPage = await client.list({ status: 'reauth_required', limit: 1 });
  const dead: string[] = [];
  for await (const user of client.listAll({ status: 'reauth_required', limit: 1 })) dead.push(user.user_id);
  const everyone: string[] = [];
  for await (const user of client.listAll()) everyone.push(user.user_id);

  // Assess
  expect(error).toBeInstanceOf(ReauthRequiredError);
  expect(error).toMatchObject({ status: 409, code: 'reauth_required' });
  expect((await client.get('client-dead-1')).status).toBe('reauth_required');
  expect(firstPage.users).toHaveLength(1);
  expect(firstPage.nextCursor).not.toBeNull();
  expect(dead.sort()).toEqual(['client-dead-1', 'client-dead-2']);
  expect(everyone).toEqual(expect.arrayContaining(['client-alive', 'client-dead-1', 'client-dead-2']));
  expect(new Set(everyone).size).toBe(everyone.length);
  expect(requests.filter((request) => request.path === '/users').length).toBeGreaterThanOrEqual(3);
});

test('a wrong bearer token: AuthError, not retried', async () => {
  // Prepare
  const wrong = new ZoomTokenVaultClient({
    baseUrl: runtime.url,
    auth: { kind: 'bearer', token: 'not-the-admin-token' },
    fetch: countingFetch,
  });

  // Act
  const error = await failure(wrong.get('client-life'));

  // Assess
  expect(error).toBeInstanceOf(AuthError);
  expect(error.status).toBe(401);
  expect(error.message).not.toContain('not-the-admin-token');
  expect(requests).toHaveLength(1);
});
