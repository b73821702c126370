/**
 * Rotating the callback-signing key, as docs/operations.md describes it, through the local runtime:
 * add k2 and make it active, re-sync each user with Recall (token-free), then retire k1.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime();
}, 30_000);

afterAll(async () => {
  await runtime?.close();
});

const admin = (method: string, path: string, body?: object) => adminCall(runtime, method, path, body);

/** Rewrites the keyring file; the handlers re-read it within a second. */
async function setKeys(keys: Record<string, string>): Promise<void> {
  await writeFile(join(runtime.dataDir, 'signing-keys.json'), JSON.stringify(keys));
  await new Promise((resolve) => setTimeout(resolve, 1_100));
}

const callbackUrlOf = (credentialId: string) =>
  runtime.fakeRecall!.credentials().find((credential) => credential.id === credentialId)?.access_token_callback_url;

test('a new signing key: re-sync moves the Recall credential to it, old URLs work until the old key is retired', async () => {
  // Prepare: a registered user, its credential calling a URL signed with k1.
  const zoom = runtime.fakeZoom!;
  const grant = zoom.authorize('zoom-rotating');
  const registered = await admin('PUT', '/users/rotating/zoom-credential', grant);
  expect(registered.status).toBe(201);
  const oldUrl = callbackUrlOf(registered.json.recall_credential_id)!;
  expect(new URL(oldUrl).searchParams.get('kid')).toBe('k1');
  const keys = JSON.parse(await readFile(join(runtime.dataDir, 'signing-keys.json'), 'utf8')) as Record<string, string>;

  // Act 1: add k2 and make it active; re-sync the user (no tokens sent).
  await setKeys({ ...keys, active: 'k2', k2: 'k2-material-'.padEnd(48, 'x') });
  const synced = await admin('POST', '/users/rotating/zoom-credential/recall-sync');

  // Assess 1: a new credential calling a k2 URL replaced the k1 one at Recall; both URLs verify.
  expect(synced.status).toBe(200);
  expect(synced.json).toMatchObject({ status: 'active', recall_status: 'registered' });
  expect(synced.json.recall_credential_id).not.toBe(registered.json.recall_credential_id);
  const newUrl = callbackUrlOf(synced.json.recall_credential_id)!;
  expect(new URL(newUrl).searchParams.get('kid')).toBe('k2');
  expect(runtime.fakeRecall!.credentials().filter((credential) => credential.user_id === 'zoom-rotating')).toHaveLength(1);
  expect((await fetch(oldUrl)).status).toBe(200);
  expect(await (await fetch(newUrl)).text()).toBe(grant.access_token);

  // Act 2: retire k1.
  await setKeys({ active: 'k2', k2: 'k2-material-'.padEnd(48, 'x') });

  // Assess 2: URLs signed with k1 are refused; Recall's URL still works.
  expect((await fetch(oldUrl)).status).toBe(403);
  expect((await runtime.fakeRecall!.fetchToken(synced.json.recall_credential_id)).status).toBe(200);
});

test('re-sync recreates a credential Recall lost, and answers 404 for an unknown user', async () => {
  // Prepare
  const registered = await admin('PUT', '/users/lost-at-recall/zoom-credential', runtime.fakeZoom!.authorize('zoom-lost'));
  expect(registered.status).toBe(201);
  await fetch(`${runtime.fakeRecall!.url}/api/v2/zoom-oauth-credentials/${registered.json.recall_credential_id}/`, {
    method: 'DELETE',
    headers: { authorization: 'Token test-recall-key' },
  });

  // Act
  const synced = await admin('POST', '/users/lost-at-recall/zoom-credential/recall-sync');
  const unknown = await admin('POST', '/users/nobody/zoom-credential/recall-sync');

  // Assess
  expect(synced.status).toBe(200);
  expect(synced.json.recall_credential_id).not.toBe(registered.json.recall_credential_id);
  expect(callbackUrlOf(synced.json.recall_credential_id)).toBeDefined();
  expect(unknown.status).toBe(404);
});
