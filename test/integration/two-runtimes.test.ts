/**
 * Handlers are built by factories from an environment of their own, so two local runtimes (two
 * tables, two KMS keys, two fake Zooms) live side by side in one process without sharing state.
 */
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

let first: LocalRuntime;
let second: LocalRuntime;

beforeAll(async () => {
  first = await startTestRuntime();
  second = await startTestRuntime();
});

afterAll(async () => {
  await first?.close();
  await second?.close();
});

test('two runtimes in one process keep their own users, keys and upstreams', async () => {
  // Prepare: one user registered in each runtime, with a grant from that runtime's fake Zoom
  const alice = first.fakeZoom!.authorize('zoom-alice');
  const bob = second.fakeZoom!.authorize('zoom-bob');

  // Act
  const registeredAlice = await adminCall(first, 'PUT', '/users/alice/zoom-credential', alice);
  const registeredBob = await adminCall(second, 'PUT', '/users/bob/zoom-credential', bob);
  const aliceInSecond = await adminCall(second, 'GET', '/users/alice/zoom-credential');
  const bobInFirst = await adminCall(first, 'GET', '/users/bob/zoom-credential');
  const aliceToken = await adminCall(first, 'GET', '/users/alice/zoom-credential/access-token');

  // Assess
  expect(registeredAlice.status).toBe(201);
  expect(registeredBob.status).toBe(201);
  expect(aliceInSecond.status).toBe(404);
  expect(bobInFirst.status).toBe(404);
  expect(aliceToken.json.access_token).toBe(alice.access_token);
  expect(first.handlerEnv.TABLE_NAME).toBe(second.handlerEnv.TABLE_NAME);
  expect(first.handlerEnv.AWS_ENDPOINT_URL_DYNAMODB).not.toBe(second.handlerEnv.AWS_ENDPOINT_URL_DYNAMODB);
  expect(first.fakeRecall!.credentials().length).toBe(1);
  expect(second.fakeRecall!.credentials().length).toBe(1);
});
