/**
 * Callback URLs through the local runtime: bound to one registration (a deleted user's URL
 * never opens again, whoever registers under its id later).
 */
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime();
});

afterAll(async () => {
  await runtime?.close();
});

const admin = (method: string, path: string, body?: object) => adminCall(runtime, method, path, body);
const callbackUrlOf = (credentialId: string) =>
  runtime.fakeRecall!.credentials().find((credential) => credential.id === credentialId)!.access_token_callback_url;

test('DELETE revokes the callback URL for good: a new registration under the same id gets a URL of its own', async () => {
  // Prepare: alice registered, her URL known (as if it had leaked), then deleted and registered again
  const first = await admin('PUT', '/users/reused/zoom-credential', runtime.fakeZoom!.authorize('zoom-reused-1'));
  const leakedUrl = callbackUrlOf(first.json.recall_credential_id);
  expect((await fetch(leakedUrl)).status).toBe(200);
  expect((await admin('DELETE', '/users/reused/zoom-credential')).status).toBe(204);
  const grant = runtime.fakeZoom!.authorize('zoom-reused-2');
  const second = await admin('PUT', '/users/reused/zoom-credential', grant);

  // Act
  const leaked = await fetch(leakedUrl);
  const current = await fetch(callbackUrlOf(second.json.recall_credential_id));

  // Assess
  expect(second.status).toBe(201);
  expect(new URL(leakedUrl).searchParams.get('reg')).not.toBe(
    new URL(callbackUrlOf(second.json.recall_credential_id)).searchParams.get('reg'),
  );
  expect(leaked.status).toBe(403);
  expect(await leaked.text()).toBe('forbidden');
  expect(current.status).toBe(200);
  expect(await current.text()).toBe(grant.access_token);
});
