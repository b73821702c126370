/**
 * The `zoom-token-vault` CLI against the local runtime: `status`, and `rotate-signing-key` end to
 * end (every Recall credential moves to a URL signed with the new key, old URLs are refused), an
 * interrupted rotation resuming where it stopped, `list` over `GET /users`, and the executable itself.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LocalRuntime } from '../../local/runtime';
import { runCli } from '../../cli/main';
import { startTestRuntime } from '../support/test-runtime';

const ROOT = join(__dirname, '..', '..');
let runtime: LocalRuntime;
const registered: string[] = [];
let resyncCalls: string[] = [];
let listCalls = 0;

beforeAll(async () => {
  runtime = await startTestRuntime();
  for (const userId of ['cli-a', 'cli-b', 'cli-c', 'cli-d', 'cli-e']) await register(userId);
}, 30_000);

afterAll(async () => {
  await runtime?.close();
});

beforeEach(() => {
  resyncCalls = [];
  listCalls = 0;
});

async function register(userId: string): Promise<void> {
  const answer = await fetch(`${runtime.url}/users/${userId}/zoom-credential`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(runtime.fakeZoom!.authorize(`zoom-${userId}`)),
  });
  if (answer.status !== 201) throw new Error(`registering ${userId}: ${answer.status}`);
  registered.push(userId);
}

/** The runtime's fetch, counting `GET /users` pages and re-syncs. */
const cliFetch = (async (input: URL | string | Request, init?: RequestInit) => {
  const url = new URL(String(input));
  if (url.pathname.endsWith('/recall-sync')) resyncCalls.push(url.pathname.split('/')[2]);
  if (url.pathname === '/users') listCalls++;
  return fetch(input, init);
}) as typeof fetch;

async function cli(args: string[], rotation?: Parameters<typeof runCli>[1]['rotation']) {
  let stdout = '';
  let stderr = '';
  const code = await runCli([...args, '--url', runtime.url, '--token', runtime.adminToken, '--data-dir', runtime.dataDir], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    cwd: ROOT,
    fetch: cliFetch,
    rotation,
  });
  return { code, stdout, stderr };
}

const keyFile = () => join(runtime.dataDir, 'signing-keys.json');
const stateFile = () => join(runtime.dataDir, 'rotation-state.json');
const readKeys = async () => JSON.parse(await readFile(keyFile(), 'utf8')) as Record<string, string>;
const kidOf = (url: string) => new URL(url).searchParams.get('kid');
const ourCredentials = () =>
  runtime.fakeRecall!.credentials().filter((credential) => registered.some((userId) => credential.user_id === `zoom-${userId}`));

/** After a rotation to `newKid`: each user has one credential, calling a `newKid` URL that serves its token; `oldUrls` are refused. */
async function expectRotatedTo(newKid: string, oldUrls: string[]): Promise<void> {
  const credentials = ourCredentials();
  expect(credentials.map((credential) => credential.user_id).sort()).toEqual(registered.map((userId) => `zoom-${userId}`).sort());
  for (const credential of credentials) {
    expect(kidOf(credential.access_token_callback_url)).toBe(newKid);
    const fetched = await runtime.fakeRecall!.fetchToken(credential.id);
    expect(fetched).toMatchObject({ status: 200 });
    expect(fetched.problem).toBeUndefined();
  }
  // The runtime re-reads the key file at most once a second: poll (bounded) until the old key is gone.
  for (let attempt = 0; attempt < 30 && (await fetch(oldUrls[0])).status !== 403; attempt++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  for (const url of oldUrls) expect((await fetch(url)).status).toBe(403);
  expect(Object.keys(await readKeys()).sort()).toEqual(['active', newKid].sort());
  expect((await readKeys()).active).toBe(newKid);
  expect(existsSync(stateFile())).toBe(false);
}

test('status prints the user as JSON; an unknown user exits 1 with the API error', async () => {
  // Act
  const known = await cli(['status', 'cli-a']);
  const unknown = await cli(['status', 'cli-nobody']);

  // Assess
  expect(known.code).toBe(0);
  expect(JSON.parse(known.stdout)).toMatchObject({ user_id: 'cli-a', status: 'active', recall_status: 'registered' });
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('404 not_found');
  expect(unknown.stdout).toBe('');
});

test('list pages through every user in a state', async () => {
  // Act
  const listed = await cli(['list', '--status', 'active', '--json', '--limit', '2']);
  const table = await cli(['list']);

  // Assess
  expect(listed.code).toBe(0);
  expect(
    listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).user_id),
  ).toEqual([...registered].sort());
  expect(listCalls).toBeGreaterThanOrEqual(Math.ceil(registered.length / 2) + 4);
  expect(table.code).toBe(0);
  expect(
    table.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t').slice(0, 3)),
  ).toEqual(registered.map((userId) => [userId, 'active', 'registered']));
  expect(table.stderr).toContain(`${registered.length} users`);
});

test('list --status reauth_required lists exactly the users whose grant is dead', async () => {
  // Prepare: two more users revoke the app at Zoom; the next sweep finds their grants dead
  const zoom = runtime.fakeZoom!;
  for (const userId of ['cli-dead-1', 'cli-dead-2']) {
    const answer = await fetch(`${runtime.url}/users/${userId}/zoom-credential`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(zoom.authorize(`zoom-${userId}`, { expiresInSeconds: 600 })),
    });
    expect(answer.status).toBe(201);
    zoom.revoke(`zoom-${userId}`);
  }
  await runtime.sweep();

  // Act
  const dead = await cli(['list', '--status', 'reauth_required', '--json', '--limit', '1']);
  const unknown = await cli(['list', '--status', 'sleeping']);

  // Assess
  expect(dead.code).toBe(0);
  expect(
    dead.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
  ).toEqual([
    expect.objectContaining({ user_id: 'cli-dead-1', status: 'reauth_required' }),
    expect.objectContaining({ user_id: 'cli-dead-2', status: 'reauth_required' }),
  ]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('sleeping');
});

test('rotate-signing-key: every credential moves to the new key, its URL serves the token, old-key URLs are refused', async () => {
  // Prepare
  const oldUrls = ourCredentials().map((credential) => credential.access_token_callback_url);
  expect(oldUrls.map(kidOf)).toEqual(registered.map(() => 'k1'));
  const oldKey = (await readKeys()).k1;

  // Act
  const rotated = await cli(['rotate-signing-key']);

  // Assess
  expect(rotated.code).toBe(0);
  expect(JSON.parse(rotated.stdout)).toMatchObject({ outcome: 'done', oldKid: 'k1', newKid: 'k2', synced: registered.length });
  expect(resyncCalls.sort()).toEqual([...registered].sort());
  await expectRotatedTo('k2', oldUrls);
  expect(rotated.stdout + rotated.stderr).not.toContain(oldKey);
  expect(rotated.stdout + rotated.stderr).not.toContain((await readKeys()).k2);
}, 30_000);

test('an interrupted rotation resumes: users already re-synced are not re-synced again', async () => {
  // Prepare: stop the run (as a crash would) after two users were re-synced, one at a time.
  const oldUrls = ourCredentials().map((credential) => credential.access_token_callback_url);
  const interrupted = await cli(['rotate-signing-key', '--concurrency', '1'], {
    hooks: {
      afterUserSynced: (_userId, count) => {
        if (count === 2) throw new Error('interrupted');
      },
    },
  });
  const stopped = JSON.parse(await readFile(stateFile(), 'utf8'));
  const keysWhileStopped = await readKeys();
  const firstRun = [...resyncCalls];
  resyncCalls = [];

  // Act
  const resumed = await cli(['rotate-signing-key']);

  // Assess
  expect(interrupted.code).toBe(1);
  expect(interrupted.stderr).toContain('interrupted');
  expect(stopped).toMatchObject({ oldKid: 'k2', newKid: 'k3', phase: 'syncing' });
  expect(stopped.synced).toHaveLength(2);
  expect(firstRun).toHaveLength(2);
  expect(Object.keys(keysWhileStopped).sort()).toEqual(['active', 'k2', 'k3']);
  expect(keysWhileStopped.active).toBe('k3');
  expect(resumed.code).toBe(0);
  expect(resumed.stderr).toContain('resuming');
  expect(resyncCalls).toHaveLength(registered.length - 2);
  expect(resyncCalls).not.toEqual(expect.arrayContaining(stopped.synced));
  expect(JSON.parse(resumed.stdout)).toMatchObject({ outcome: 'done', oldKid: 'k2', newKid: 'k3', synced: registered.length });
  await expectRotatedTo('k3', oldUrls);
}, 30_000);

test('the executable: --help, and status over HTTP with the environment variables', async () => {
  // Act
  const run = promisify(execFile);
  const help = await run(process.execPath, [join(ROOT, 'cli', 'zoom-token-vault.js'), '--help']);
  const status = await run(process.execPath, [join(ROOT, 'cli', 'zoom-token-vault.js'), 'status', 'cli-b'], {
    env: { ...process.env, ZOOM_TOKEN_VAULT_URL: runtime.url, ZOOM_TOKEN_VAULT_ADMIN_TOKEN: runtime.adminToken },
  });

  // Assess
  expect(help.stdout).toContain('rotate-signing-key');
  expect(JSON.parse(status.stdout)).toMatchObject({ user_id: 'cli-b', status: 'active' });
}, 30_000);
