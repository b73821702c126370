/**
 * GET /users?status=…: the users in one state, a page at a time, from an index (no scan),
 * through the local runtime.
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

test('lists exactly the users whose grant is dead, across pages', async () => {
  // Prepare: five users; three revoke the app at Zoom and the next sweep finds their grants dead
  const zoom = runtime.fakeZoom!;
  const ids = ['list-a', 'list-b', 'list-c', 'list-d', 'list-e'];
  for (const id of ids)
    expect((await admin('PUT', `/users/${id}/zoom-credential`, zoom.authorize(`zoom-${id}`, { expiresInSeconds: 600 }))).status).toBe(201);
  for (const id of ['list-a', 'list-c', 'list-e']) zoom.revoke(`zoom-${id}`);
  await runtime.sweep();

  // Act: two users a page
  const first = await admin('GET', '/users?status=reauth_required&limit=2');
  const second = await admin('GET', `/users?status=reauth_required&limit=2&cursor=${first.json.next_cursor}`);
  const active = await admin('GET', '/users?status=active&limit=100');

  // Assess
  expect(first.status).toBe(200);
  const dead = [...first.json.users, ...second.json.users].map((user: { user_id: string }) => user.user_id);
  expect(dead.sort()).toEqual(['list-a', 'list-c', 'list-e']);
  expect(second.json.next_cursor).toBeNull();
  expect(active.json.users.map((user: { user_id: string }) => user.user_id).sort()).toEqual(['list-b', 'list-d']);
  expect(first.json.users[0]).toMatchObject({ status: 'reauth_required', token_status: 'reauth_required' });
  expect(JSON.stringify(first.json)).not.toContain('access_token"');
});

test.each([
  ['a missing status', '/users', 'status'],
  ['an unknown status', '/users?status=sleeping', 'status'],
  ['a limit out of range', '/users?status=active&limit=1000', 'limit'],
  ['a limit that is no number', '/users?status=active&limit=ten', 'limit'],
  ['a forged cursor', `/users?status=active&cursor=${Buffer.from('../x').toString('base64url')}`, 'cursor'],
])('answers 400 naming the field for %s', async (_name, path, field) => {
  // Act
  const answer = await admin('GET', path);

  // Assess
  expect(answer.status).toBe(400);
  expect(answer.json).toMatchObject({ error: 'invalid_request', field });
});
