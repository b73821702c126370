/**
 * Lifecycle events, Recall's credential health and Zoom's deauthorization, end to end: the local
 * runtime with the fake Zoom and fake Recall, its events POSTed to a collector started here
 * (EVENTS_WEBHOOK_URL), Zoom's events signed here with the runtime's ZOOM_WEBHOOK_SECRET_TOKEN.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { EVENT_DETAIL_TYPES, EVENT_SCHEMA_VERSION, EVENT_SOURCE } from '../../functions/contract';
import { TABLE_NAME } from '../../local/dynamo';
import type { FakeRecall } from '../../local/fakes/fake-recall';
import type { FakeZoom, ZoomTokenResponse } from '../../local/fakes/fake-zoom';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

const SECRET_TOKEN = 'zoom-webhook-secret-token-for-tests';

interface Received {
  raw: string;
  body: any;
}

let runtime: LocalRuntime;
let zoom: FakeZoom;
let recall: FakeRecall;
let collector: Server;
const received: Received[] = [];
/** Collector answers: 204, or 500 while `failing`. */
let failing = false;
let dynamoClient: DynamoDBClient;
let store: DynamoTokenStore;
let counter = 0;

const newId = (label: string) => `${label}-${++counter}-${Date.now().toString(36)}`;
const credentialPath = (userId: string) => `/users/${encodeURIComponent(userId)}/zoom-credential`;
const eventsOf = (userId: string) => received.filter((event) => event.body?.detail?.user_id === userId);
const typesOf = (userId: string) => eventsOf(userId).map((event) => event.body['detail-type']);

async function register(userId: string, zoomUserId: string, options?: { expiresInSeconds?: number }): Promise<ZoomTokenResponse> {
  const grant = zoom.authorize(zoomUserId, options);
  const answer = await adminCall(runtime, 'PUT', credentialPath(userId), grant);
  expect(answer.status).toBe(201);
  return grant;
}

function sign(body: string, timestamp: string, secret = SECRET_TOKEN): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

async function zoomEvent(body: string, options: { signature?: string; timestamp?: string } = {}): Promise<{ status: number; json: any }> {
  const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
  const response = await fetch(`${runtime.url}/zoom/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-zm-request-timestamp': timestamp,
      'x-zm-signature': options.signature ?? sign(body, timestamp),
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

/** Zoom's app_deauthorized for `zoomUserId`, the user having removed the app at `removedAt` (now by default; null: left out). */
function deauthorization(zoomUserId: string, removedAt: Date | null = new Date()): string {
  return JSON.stringify({
    event: 'app_deauthorized',
    event_ts: Date.now(),
    payload: {
      account_id: 'acct-1',
      user_id: zoomUserId,
      signature: 'zoom-data-compliance-signature',
      ...(removedAt ? { deauthorization_time: removedAt.toISOString() } : {}),
      client_id: runtime.handlerEnv.ZOOM_CLIENT_ID,
    },
  });
}

beforeAll(async () => {
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (!failing) received.push({ raw, body: JSON.parse(raw) });
      else received.push({ raw, body: { failedDelivery: JSON.parse(raw) } });
      response.writeHead(failing ? 500 : 204).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/events`;
  runtime = await startTestRuntime({ EVENTS_WEBHOOK_URL: collectorUrl, ZOOM_WEBHOOK_SECRET_TOKEN: SECRET_TOKEN });
  zoom = runtime.fakeZoom!;
  recall = runtime.fakeRecall!;
  dynamoClient = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: runtime.dynamoEndpoint,
  });
  store = new DynamoTokenStore({ client: dynamoClient, tableName: TABLE_NAME });
}, 30_000);

afterAll(async () => {
  dynamoClient?.destroy();
  await runtime?.close();
  await new Promise((resolve) => collector?.close(resolve));
});

beforeEach(() => {
  failing = false;
});

describe('lifecycle events', () => {
  test('a first PUT publishes one User Registered event in the documented envelope, without a token', async () => {
    // Prepare
    const userId = newId('registered');

    // Act
    const grant = await register(userId, `zoom-${userId}`);

    // Assess
    const events = eventsOf(userId);
    expect(events).toHaveLength(1);
    expect(events[0].body).toEqual({
      source: EVENT_SOURCE,
      'detail-type': EVENT_DETAIL_TYPES.userRegistered,
      time: events[0].body.detail.time,
      detail: {
        version: EVENT_SCHEMA_VERSION,
        user_id: userId,
        status: 'active',
        reason: 'created',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(events[0].raw).not.toContain(grant.access_token);
    expect(events[0].raw).not.toContain(grant.refresh_token);
  });

  test('a grant revoked at Zoom and one sweep publish one Zoom Grant Dead event carrying no token', async () => {
    // Prepare: a token inside the refresh window, so the sweep refreshes it
    const userId = newId('revoked');
    const zoomUserId = `zoom-${userId}`;
    const grant = await register(userId, zoomUserId, { expiresInSeconds: 600 });
    zoom.revoke(zoomUserId);

    // Act
    await runtime.sweep();

    // Assess
    const dead = eventsOf(userId).filter((event) => event.body['detail-type'] === EVENT_DETAIL_TYPES.grantDead);
    expect(dead).toHaveLength(1);
    expect(dead[0].body.detail).toMatchObject({ version: EVENT_SCHEMA_VERSION, user_id: userId, status: 'reauth_required' });
    expect(typeof dead[0].body.detail.reason).toBe('string');
    const everything = received.map((event) => event.raw).join('\n');
    expect(everything).not.toContain(grant.access_token);
    expect(everything).not.toContain(grant.refresh_token);
    expect((await adminCall(runtime, 'GET', credentialPath(userId))).json.status).toBe('reauth_required');
  });

  test('DELETE publishes User Deleted', async () => {
    // Prepare
    const userId = newId('deleted');
    await register(userId, `zoom-${userId}`);

    // Act
    const answer = await adminCall(runtime, 'DELETE', credentialPath(userId));

    // Assess
    expect(answer.status).toBe(204);
    expect(typesOf(userId)).toEqual([EVENT_DETAIL_TYPES.userRegistered, EVENT_DETAIL_TYPES.userDeleted]);
    expect(eventsOf(userId)[1].body.detail.status).toBe('deleted');
  });

  test('an event destination that fails does not fail the PUT: the event is tried again, then given up', async () => {
    // Prepare
    failing = true;
    const userId = newId('unpublished');
    const grant = zoom.authorize(`zoom-${userId}`);

    // Act
    const answer = await adminCall(runtime, 'PUT', credentialPath(userId), grant);

    // Assess
    expect(answer.status).toBe(201);
    expect(answer.json.status).toBe('active');
    const attempts = received.filter((event) => event.body.failedDelivery?.detail?.user_id === userId);
    expect(attempts).toHaveLength(3);
    expect(eventsOf(userId)).toHaveLength(0);
  });
});

describe('Recall credential health', () => {
  test('an unhealthy credential marks its user once and publishes once across two checks; a re-sync recreates it', async () => {
    // Prepare
    const userId = newId('unhealthy');
    await register(userId, `zoom-${userId}`);
    const before = (await adminCall(runtime, 'GET', credentialPath(userId))).json;
    recall.setStatus(before.recall_credential_id, 'unhealthy');

    // Act
    const first = await runtime.checkRecallHealth();
    const second = await runtime.checkRecallHealth();
    const marked = (await adminCall(runtime, 'GET', credentialPath(userId))).json;
    const listed = await adminCall(runtime, 'GET', '/users?status=recall_unhealthy');
    const synced = await adminCall(runtime, 'POST', `${credentialPath(userId)}/recall-sync`);

    // Assess
    expect(first.marked).toBeGreaterThanOrEqual(1);
    expect(second.marked).toBe(0);
    expect(second.alreadyMarked).toBeGreaterThanOrEqual(1);
    expect(marked.status).toBe('recall_unhealthy');
    expect(marked.recall_status).toBe('unhealthy');
    expect(listed.json.users.map((user: any) => user.user_id)).toContain(userId);
    const unhealthy = eventsOf(userId).filter((event) => event.body['detail-type'] === EVENT_DETAIL_TYPES.recallCredentialUnhealthy);
    expect(unhealthy).toHaveLength(1);
    expect(unhealthy[0].body.detail).toMatchObject({ user_id: userId, status: 'recall_unhealthy', reason: 'recall_unhealthy' });
    expect(synced.status).toBe(200);
    expect(synced.json.status).toBe('active');
    expect(synced.json.recall_credential_id).not.toBe(before.recall_credential_id);
    const credentials = recall.credentials().filter((credential) => credential.user_id === `zoom-${userId}`);
    expect(credentials.map((credential) => [credential.id, credential.status])).toEqual([[synced.json.recall_credential_id, 'healthy']]);
  });
});

describe('POST /zoom/events', () => {
  test('a signed app_deauthorized deletes the tokens and the Recall credential and publishes Zoom Deauthorized', async () => {
    // Prepare
    const userId = newId('deauthorized');
    const zoomUserId = `zoom-${userId}`;
    await register(userId, zoomUserId);
    const credentialId = (await adminCall(runtime, 'GET', credentialPath(userId))).json.recall_credential_id;
    expect((await store.get(userId, { consistent: true }))?.zoomUserId).toBe(zoomUserId);

    // Act
    const answer = await zoomEvent(deauthorization(zoomUserId));
    const again = await zoomEvent(deauthorization(zoomUserId));

    // Assess
    expect(answer.status).toBe(200);
    expect(again.status).toBe(200);
    expect(recall.credentials().map((credential) => credential.id)).not.toContain(credentialId);
    const item = (
      await dynamoClient.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: userId } }, ConsistentRead: true }))
    ).Item!;
    expect(item.ct).toBeUndefined();
    expect(item.edk).toBeUndefined();
    expect(item.status.S).toBe('deauthorized');
    expect(item.due_at).toBeUndefined();
    const view = await adminCall(runtime, 'GET', credentialPath(userId));
    expect(view.json).toMatchObject({ status: 'deauthorized', token_status: 'deauthorized', recall_credential_id: null });
    expect((await adminCall(runtime, 'GET', `${credentialPath(userId)}/access-token`)).status).toBe(409);
    expect((await adminCall(runtime, 'GET', '/users?status=deauthorized')).json.users.map((user: any) => user.user_id)).toContain(userId);
    const deauthorized = eventsOf(userId).filter((event) => event.body['detail-type'] === EVENT_DETAIL_TYPES.zoomDeauthorized);
    expect(deauthorized).toHaveLength(1);
    expect(deauthorized[0].body.detail).toMatchObject({ user_id: userId, status: 'deauthorized', reason: 'app_deauthorized' });
  });

  test('a deauthorized user registered again with new tokens is active again', async () => {
    // Prepare
    const userId = newId('returning');
    const zoomUserId = `zoom-${userId}`;
    await register(userId, zoomUserId);
    expect((await zoomEvent(deauthorization(zoomUserId))).status).toBe(200);

    // Act
    const answer = await adminCall(runtime, 'PUT', credentialPath(userId), zoom.authorize(zoomUserId));

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ status: 'active', token_status: 'active', recall_status: 'registered' });
    expect((await adminCall(runtime, 'GET', `${credentialPath(userId)}/access-token`)).status).toBe(200);
  });

  describe('a late or replayed app_deauthorized (issue 18, finding 2)', () => {
    /** What a user's grant looks like from outside: the record, its token, its Recall credential, its events. */
    async function snapshot(userId: string) {
      return {
        record: await store.get(userId, { consistent: true }),
        token: (await adminCall(runtime, 'GET', `${credentialPath(userId)}/access-token`)).json,
        credentials: recall
          .credentials()
          .filter((credential) => new URL(credential.access_token_callback_url).searchParams.get('user_id') === userId),
        events: typesOf(userId),
      };
    }

    test('the signed request replayed after the user authorized again and the backend PUT the new grant changes nothing', async () => {
      // Prepare: registered; the user removes the app (handled); authorizes again; the backend PUTs.
      const userId = newId('replayed');
      const zoomUserId = `zoom-${userId}`;
      await register(userId, zoomUserId);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const body = deauthorization(zoomUserId);
      const signature = sign(body, timestamp);
      expect((await zoomEvent(body, { timestamp, signature })).status).toBe(200);
      expect((await store.get(userId, { consistent: true }))?.status).toBe('deauthorized');
      const grant = zoom.authorize(zoomUserId);
      expect((await adminCall(runtime, 'PUT', credentialPath(userId), grant)).json).toMatchObject({ status: 'active' });
      const before = await snapshot(userId);

      // Act: the same signed request again, within its 5 minutes (or Zoom redelivering it).
      const replayed = await zoomEvent(body, { timestamp, signature });

      // Assess
      expect(replayed.status).toBe(200);
      expect(await snapshot(userId)).toEqual(before);
      expect(before.token.access_token).toBe(grant.access_token);
      expect(before.credentials).toHaveLength(1);
    });

    test('a first delivery that arrives after the new grant was PUT leaves the new grant alone', async () => {
      // Prepare: registered; the user removes the app at Zoom and authorizes again; the backend
      // PUTs the new grant before Zoom's event arrives.
      const userId = newId('late');
      const zoomUserId = `zoom-${userId}`;
      await register(userId, zoomUserId);
      const removedAt = new Date();
      const grant = zoom.authorize(zoomUserId);
      expect((await adminCall(runtime, 'PUT', credentialPath(userId), grant)).status).toBe(200);
      const before = await snapshot(userId);

      // Act
      const late = await zoomEvent(deauthorization(zoomUserId, removedAt));

      // Assess
      expect(late.status).toBe(200);
      expect(await snapshot(userId)).toEqual(before);
      expect(before.token.access_token).toBe(grant.access_token);
    });

    test('an app_deauthorized without a deauthorization_time is refused 400 and changes nothing', async () => {
      // Prepare
      const userId = newId('timeless');
      const zoomUserId = `zoom-${userId}`;
      await register(userId, zoomUserId);
      const before = await snapshot(userId);

      // Act
      const answer = await zoomEvent(deauthorization(zoomUserId, null));

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ error: 'invalid_request' });
      expect(await snapshot(userId)).toEqual(before);
    });
  });

  test.each([
    ['a wrong signature', (body: string, ts: string) => ({ signature: sign(body, ts, 'another-secret'), timestamp: ts })],
    ['no signature', (_body: string, ts: string) => ({ signature: '', timestamp: ts })],
    [
      'a signature over another timestamp',
      (body: string, ts: string) => ({ signature: sign(body, String(Number(ts) - 1)), timestamp: ts }),
    ],
    [
      'a correctly signed stale timestamp',
      (body: string) => {
        const stale = String(Math.floor(Date.now() / 1000) - 6 * 60);
        return { signature: sign(body, stale), timestamp: stale };
      },
    ],
    [
      'a correctly signed timestamp in the future',
      (body: string) => {
        const future = String(Math.floor(Date.now() / 1000) + 6 * 60);
        return { signature: sign(body, future), timestamp: future };
      },
    ],
  ])('%s is refused with 401 and changes nothing', async (_label, headersFor) => {
    // Prepare
    const userId = newId('forged');
    const zoomUserId = `zoom-${userId}`;
    await register(userId, zoomUserId);
    const before = await store.get(userId, { consistent: true });
    const credentialsBefore = recall.credentials();
    const eventsBefore = received.length;
    const body = deauthorization(zoomUserId);

    // Act
    const answer = await zoomEvent(body, headersFor(body, String(Math.floor(Date.now() / 1000))));

    // Assess
    expect(answer.status).toBe(401);
    expect(await store.get(userId, { consistent: true })).toEqual(before);
    expect(recall.credentials()).toEqual(credentialsBefore);
    expect(received.length).toBe(eventsBefore);
  });

  test("Zoom's url_validation challenge is answered with the HMAC of the plain token", async () => {
    // Prepare
    const plainToken = 'qgg8vlvZRS6UYooatFL8Aw';
    const body = JSON.stringify({ payload: { plainToken }, event_ts: Date.now(), event: 'endpoint.url_validation' });

    // Act
    const answer = await zoomEvent(body);
    const unsigned = await zoomEvent(body, { signature: 'v0=00' });

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ plainToken, encryptedToken: createHmac('sha256', SECRET_TOKEN).update(plainToken).digest('hex') });
    expect(unsigned.status).toBe(401);
  });

  test('an unknown Zoom user, and an unknown event type, are answered 200 and change nothing', async () => {
    // Prepare
    const eventsBefore = received.length;
    const credentialsBefore = recall.credentials().length;

    // Act
    const unknownUser = await zoomEvent(deauthorization('zoom-nobody-we-know'));
    const otherEvent = await zoomEvent(JSON.stringify({ event: 'meeting.started', payload: { object: { id: 1 } } }));

    // Assess
    expect(unknownUser.status).toBe(200);
    expect(otherEvent.status).toBe(200);
    expect(received.length).toBe(eventsBefore);
    expect(recall.credentials()).toHaveLength(credentialsBefore);
  });

  test('malformed JSON is 400 and a body over 64 KB is 413', async () => {
    // Act
    const malformed = await zoomEvent('{"event": "app_deauthorized",');
    const oversized = await zoomEvent(JSON.stringify({ event: 'app_deauthorized', padding: 'x'.repeat(70 * 1024) }));

    // Assess
    expect(malformed.status).toBe(400);
    expect(oversized.status).toBe(413);
  });
});
