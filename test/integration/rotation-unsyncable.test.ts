/**
 * `rotate-signing-key` against the local runtime with users it cannot re-sync among healthy
 * ones: a user Recall refused at registration (no credential: nothing to move), a user whose
 * grant died (its credential is reported, not re-synced), and a user Recall refuses to move
 * whose credential still calls the old key (the old key is kept and the run stops with the next
 * step; `--skip-failed` removes it, naming the user). The old key goes only when no live
 * credential at Recall still calls it, or when told to.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../cli/main';
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
const readKeys = async () => JSON.parse(await readFile(join(runtime.dataDir, 'signing-keys.json'), 'utf8')) as Record<string, string>;
const kidOf = (url: string) => new URL(url).searchParams.get('kid');
const credentialOf = (zoomUserId: string) => runtime.fakeRecall!.credentials().find((credential) => credential.user_id === zoomUserId);

async function rotate(...extra: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    ['rotate-signing-key', '--url', runtime.url, '--token', runtime.adminToken, '--data-dir', runtime.dataDir, ...extra],
    {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      cwd: runtime.dataDir,
    },
  );
  return { code, stderr, result: stdout ? JSON.parse(stdout) : undefined };
}

/** A user registered the way a backend does it, with a grant the fake Zoom mints. */
async function register(userId: string, options: { expiresInSeconds?: number } = {}) {
  return admin('PUT', `/users/${userId}/zoom-credential`, runtime.fakeZoom!.authorize(`zoom-${userId}`, options));
}

test('a recall_failed and a reauth_required user among healthy ones: the rotation finishes and says what it left', async () => {
  // Prepare: two healthy users; one Recall refused at registration (its token no longer verifies); one whose grant died.
  const zoom = runtime.fakeZoom!;
  for (const userId of ['healthy-1', 'healthy-2']) expect((await register(userId)).status).toBe(201);
  const grant = zoom.authorize('zoom-refused');
  zoom.revoke('zoom-refused');
  const refused = await admin('PUT', '/users/refused/zoom-credential', grant);
  expect(refused.status).toBe(502);
  expect((await register('dead', { expiresInSeconds: 600 })).status).toBe(201);
  zoom.revoke('zoom-dead');
  await runtime.sweep();
  expect((await admin('GET', '/users/refused/zoom-credential')).json).toMatchObject({
    status: 'recall_failed',
    recall_credential_id: null,
  });
  expect((await admin('GET', '/users/dead/zoom-credential')).json).toMatchObject({ status: 'reauth_required' });
  const deadCredential = credentialOf('zoom-dead')!;

  // Act
  const { code, stderr, result } = await rotate();

  // Assess: done, k1 gone; the healthy users moved; the others named with what happens to them.
  expect(code).toBe(0);
  expect(result).toMatchObject({ outcome: 'done', oldKid: 'k1', newKid: 'k2', synced: 2, failed: [] });
  expect(Object.keys(await readKeys()).sort()).toEqual(['active', 'k2']);
  for (const userId of ['healthy-1', 'healthy-2']) {
    const credential = credentialOf(`zoom-${userId}`)!;
    expect(kidOf(credential.access_token_callback_url)).toBe('k2');
    const fetched = await runtime.fakeRecall!.fetchToken(credential.id);
    expect(fetched.status).toBe(200);
    expect(fetched.problem).toBeUndefined();
  }
  expect(stderr).toContain('no credential refused (recall_failed): nothing at Recall used k1');
  expect(stderr).toContain(`skipped dead (reauth_required): its credential at Recall (${deadCredential.id}) calls a k1 URL`);
  // The only credential still calling k1 is the dead grant's, which serves no token with either key.
  const onOldKey = runtime.fakeRecall!.credentials().filter((credential) => kidOf(credential.access_token_callback_url) === 'k1');
  expect(onOldKey.map((credential) => credential.user_id)).toEqual(['zoom-dead']);
}, 60_000);

test('a user Recall refuses to move while its credential calls the old key: the run stops with the next step; --skip-failed removes the key', async () => {
  // Prepare: a registered user whose Zoom token stops verifying, so Recall refuses a new credential for it.
  expect((await register('stuck')).status).toBe(201);
  const oldUrl = credentialOf('zoom-stuck')!.access_token_callback_url;
  runtime.fakeZoom!.revoke('zoom-stuck');

  // Act
  const stopped = await rotate();
  const keysWhenStopped = await readKeys();
  const oldUrlWhenStopped = (await fetch(oldUrl)).status;
  const forced = await rotate('--skip-failed');

  // Assess: stopped with k2 kept and the exact command to go on (no bearer token in it)
  expect(stopped.code).toBe(1);
  expect(stopped.result).toMatchObject({ outcome: 'incomplete', oldKid: 'k2', newKid: 'k3' });
  expect(stopped.result.failed).toEqual([
    expect.objectContaining({ userId: 'stuck', status: 502, code: 'recall_error', holdsCredential: true }),
  ]);
  expect(Object.keys(keysWhenStopped).sort()).toEqual(['active', 'k2', 'k3']);
  expect(oldUrlWhenStopped).toBe(200);
  expect(stopped.stderr).toContain('k2 is kept');
  expect(stopped.stderr).toContain(
    `remove k2 now with: zoom-token-vault rotate-signing-key --url ${runtime.url} --token <token> --data-dir ${runtime.dataDir} --skip-failed`,
  );
  expect(stopped.stderr).not.toContain(runtime.adminToken);
  // …and --skip-failed finishes, naming the user whose credential stops working.
  expect(forced.code).toBe(0);
  expect(forced.result).toMatchObject({ outcome: 'done', oldKid: 'k2', newKid: 'k3' });
  expect(Object.keys(await readKeys()).sort()).toEqual(['active', 'k3']);
  expect(forced.stderr).toContain('failed stuck: 502 recall_error; its credential at Recall');
  expect(forced.stderr).toContain('refused from now on: `zoom-token-vault resync stuck` once the cause is fixed');
}, 60_000);
