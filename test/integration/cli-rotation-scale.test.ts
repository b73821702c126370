/**
 * `rotate-signing-key` over 200 registered users on the local runtime: afterwards every Recall
 * credential calls a URL signed with the new key, every such URL serves its user's token, and
 * every URL signed with the old key is refused.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalRuntime } from '../../local/runtime';
import { ZoomTokenVaultClient } from 'zoom-token-vault-client';
import { runCli } from '../../cli/main';
import { forEachLimited } from '../../cli/pool';
import { startTestRuntime } from '../support/test-runtime';

const USERS = 200;
let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime();
  const client = new ZoomTokenVaultClient({ baseUrl: runtime.url, auth: { kind: 'bearer', token: runtime.adminToken } });
  const ids = Array.from({ length: USERS }, (_, i) => `scale-${String(i).padStart(3, '0')}`);
  await forEachLimited(ids, 8, async (userId) => {
    const { created } = await client.register(userId, runtime.fakeZoom!.authorize(`zoom-${userId}`));
    if (!created) throw new Error(`${userId} was not created`);
  });
}, 60_000);

afterAll(async () => {
  await runtime?.close();
});

const kidOf = (url: string) => new URL(url).searchParams.get('kid');

test(`rotate-signing-key with ${USERS} users: every credential moves to the new key and serves its token; old URLs are refused`, async () => {
  // Prepare
  const before = runtime.fakeRecall!.credentials();
  expect(before).toHaveLength(USERS);
  expect(new Set(before.map((credential) => kidOf(credential.access_token_callback_url)))).toEqual(new Set(['k1']));
  let stdout = '';
  let stderr = '';

  // Act
  const code = await runCli(
    ['rotate-signing-key', '--concurrency', '16', '--url', runtime.url, '--token', runtime.adminToken, '--data-dir', runtime.dataDir],
    {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      cwd: runtime.dataDir,
    },
  );

  // Assess
  expect([code, stderr]).toEqual([0, expect.stringContaining('phase 4/4')]);
  expect(JSON.parse(stdout)).toMatchObject({ outcome: 'done', oldKid: 'k1', newKid: 'k2', synced: USERS, failed: [] });
  const after = runtime.fakeRecall!.credentials();
  expect(after).toHaveLength(USERS);
  expect(new Set(after.map((credential) => credential.user_id))).toEqual(new Set(before.map((credential) => credential.user_id)));
  for (const credential of after) expect(kidOf(credential.access_token_callback_url)).toBe('k2');
  const served: Array<{ status: number; problem?: string }> = [];
  await forEachLimited(after, 16, async (credential) => {
    const fetched = await runtime.fakeRecall!.fetchToken(credential.id);
    served.push({ status: fetched.status, problem: fetched.problem });
  });
  expect(served.filter((answer) => answer.status !== 200 || answer.problem !== undefined)).toEqual([]);
  expect(served).toHaveLength(USERS);
  // The runtime re-reads the key file at most once a second: poll (bounded) until the old key is gone.
  const oldUrls = before.map((credential) => credential.access_token_callback_url);
  for (let attempt = 0; attempt < 30 && (await fetch(oldUrls[0])).status !== 403; attempt++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const refused: number[] = [];
  await forEachLimited(oldUrls, 16, async (url) => void refused.push((await fetch(url)).status));
  expect(new Set(refused)).toEqual(new Set([403]));
  const keys = JSON.parse(await readFile(join(runtime.dataDir, 'signing-keys.json'), 'utf8'));
  expect(Object.keys(keys).sort()).toEqual(['active', 'k2']);
}, 60_000);
