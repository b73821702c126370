/**
 * The token callback end to end: the local runtime's HTTP server, the real handler, dynalite and
 * the KMS stand-in over HTTP. Bad input is tried as a new user and as an attacker would.
 */
import { UpdateItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { LocalRuntime } from '../../local/runtime';
import { startTestRuntime } from '../support/test-runtime';
import { TABLE_NAME } from '../../local/dynamo';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

let runtime: LocalRuntime;
let dynamo: DynamoDBClient;
const tokens: Record<string, { access_token: string; refresh_token: string }> = {};

async function register(userId: string, expiresInSeconds = 3600): Promise<URL> {
  const grant = runtime.fakeZoom!.authorize(`zoom-${userId}`, { expiresInSeconds });
  tokens[userId] = grant;
  const answer = await fetch(`${runtime.url}/users/${userId}/zoom-credential`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(grant),
  });
  expect(answer.status).toBe(201);
  const credential = runtime.fakeRecall!.credentials().find((c) => c.access_token_callback_url.includes(`user_id=${userId}&`));
  return new URL(credential!.access_token_callback_url);
}

async function get(url: URL | string) {
  const answer = await fetch(url);
  return { status: answer.status, body: await answer.text(), headers: answer.headers };
}

function withParams(url: URL, change: (params: URLSearchParams) => void): URL {
  const copy = new URL(url);
  change(copy.searchParams);
  return copy;
}

beforeAll(async () => {
  runtime = await startTestRuntime();
  dynamo = new DynamoDBClient({
    endpoint: runtime.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
});

afterAll(async () => {
  dynamo.destroy();
  await runtime.close();
});

describe('GET /zoom/token', () => {
  let aliceUrl: URL;
  let bobUrl: URL;

  beforeAll(async () => {
    aliceUrl = await register('alice');
    bobUrl = await register('bob');
  });

  it('answers the access token as plain text, uncached', async () => {
    // Act
    const answer = await get(aliceUrl);
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(tokens.alice.access_token);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(runtime.fakeZoom!.verifyAccessToken(answer.body)!.expiresAt - Date.now()).toBeGreaterThan(120_000);
  });

  it('serves each user their own token', async () => {
    // Act
    const [alice, bob] = await Promise.all([get(aliceUrl), get(bobUrl)]);
    // Assess
    expect(alice.body).toBe(tokens.alice.access_token);
    expect(bob.body).toBe(tokens.bob.access_token);
    expect(alice.body).not.toBe(bob.body);
  });

  it('answers a bad signature and an unknown user exactly alike', async () => {
    // Prepare: a correctly signed URL for a user who does not exist (deleted after registration).
    const ghostUrl = await register('ghost');
    await fetch(`${runtime.url}/users/ghost/zoom-credential`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${runtime.adminToken}` },
    });
    const forged = withParams(aliceUrl, (p) => p.set('sig', 'A'.repeat(43)));
    // Act
    const [unknown, bad] = await Promise.all([get(ghostUrl), get(forged)]);
    // Assess
    expect(unknown.status).toBe(403);
    expect(bad.status).toBe(403);
    expect(unknown.body).toBe(bad.body);
    expect([...unknown.headers.entries()].filter(([k]) => k !== 'date')).toEqual([...bad.headers.entries()].filter(([k]) => k !== 'date'));
  });

  const attacks: Array<[string, (url: URL) => URL | string]> = [
    ['no parameters', (url) => `${url.origin}${url.pathname}`],
    ['no signature', (url) => withParams(url, (p) => p.delete('sig'))],
    ['no key id', (url) => withParams(url, (p) => p.delete('kid'))],
    ['no user id', (url) => withParams(url, (p) => p.delete('user_id'))],
    ['an unknown key id', (url) => withParams(url, (p) => p.set('kid', 'k9'))],
    ['a tampered user id', (url) => withParams(url, (p) => p.set('user_id', 'alicf'))],
    ['the signature of another user', (url) => withParams(url, (p) => p.set('user_id', 'bob'))],
    ['a duplicated user id', (url) => withParams(url, (p) => p.append('user_id', 'bob'))],
    ['a duplicated signature', (url) => withParams(url, (p) => p.append('sig', p.get('sig')!))],
    ['an oversized user id', (url) => withParams(url, (p) => p.set('user_id', 'a'.repeat(4_000)))],
    ['an oversized signature', (url) => withParams(url, (p) => p.set('sig', 'A'.repeat(4_000)))],
    ['a unicode user id', (url) => withParams(url, (p) => p.set('user_id', 'alicé'))],
    ['a user id with a NUL byte', (url) => withParams(url, (p) => p.set('user_id', 'alice\u0000'))],
    ['a padded base64 signature', (url) => withParams(url, (p) => p.set('sig', `${p.get('sig')!}=`))],
    ['a standard-base64 signature', (url) => withParams(url, (p) => p.set('sig', p.get('sig')!.replace(/-/g, '+').replace(/_/g, '/')))],
    ['a lower-cased signature', (url) => withParams(url, (p) => p.set('sig', p.get('sig')!.toLowerCase()))],
  ];

  it.each(attacks)('refuses %s with 403 and no token', async (_name, tamper) => {
    // Prepare
    const url = tamper(aliceUrl);
    // Act
    const answer = await get(url);
    // Assess (a standard-base64 signature without - or _ is the same string: skip that degenerate case)
    if (String(url) === String(aliceUrl)) return;
    expect(answer.status).toBe(403);
    expect(answer.body).toBe('forbidden');
    expect(answer.body).not.toContain(tokens.alice.access_token);
  });

  it('refuses a URL too large to parse before any handler runs, never with a 500', async () => {
    // Act
    const answer = await get(withParams(aliceUrl, (p) => p.set('user_id', 'a'.repeat(20_000))));
    // Assess: Node (like the gateway) refuses oversized request lines itself.
    expect([403, 414, 431]).toContain(answer.status);
    expect(answer.body).not.toContain(tokens.alice.access_token);
  });

  it('answers 405 to other methods on the callback path', async () => {
    // Act
    const answer = await fetch(aliceUrl, { method: 'POST' });
    // Assess
    expect(answer.status).toBe(405);
  });

  it('refuses a ciphertext swapped between two users', async () => {
    // Prepare: copy bob's sealed record onto carol's item, as an attacker with table write access would.
    const carolUrl = await register('carol');
    const bobItem = await dynamo.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: 'bob' } } }));
    await dynamo.send(
      new UpdateItemCommand({
        TableName: TABLE_NAME,
        Key: { user_id: { S: 'carol' } },
        UpdateExpression: 'SET edk = :edk, iv = :iv, ct = :ct',
        ExpressionAttributeValues: { ':edk': bobItem.Item!.edk, ':iv': bobItem.Item!.iv, ':ct': bobItem.Item!.ct },
      }),
    );
    // Act
    const answer = await get(carolUrl);
    // Assess
    expect(answer.status).toBe(503);
    expect(answer.body).toBe('token unavailable');
    expect(answer.body).not.toContain(tokens.bob.access_token);
  });

  it('never stores a token in clear', async () => {
    // Act
    const item = await dynamo.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: 'alice' } } }));
    // Assess
    const raw = JSON.stringify(item.Item, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
    expect(raw).not.toContain(tokens.alice.access_token);
    expect(raw).not.toContain(tokens.alice.refresh_token);
    expect(item.Item!.access_expires_at.N).toBeDefined();
  });

  it('refuses a user whose grant is dead, with 503 and no token', async () => {
    // Prepare: a token about to expire, and Zoom has revoked the user.
    const daveUrl = await register('dave');
    await dynamo.send(
      new UpdateItemCommand({
        TableName: TABLE_NAME,
        Key: { user_id: { S: 'dave' } },
        UpdateExpression: 'SET access_expires_at = :soon',
        ExpressionAttributeValues: { ':soon': { N: String(Date.now() + 60_000) } },
      }),
    );
    runtime.fakeZoom!.revoke('zoom-dave');
    // Act
    const answer = await get(daveUrl);
    const status = await fetch(`${runtime.url}/users/dave/zoom-credential`, { headers: { authorization: `Bearer ${runtime.adminToken}` } });
    // Assess
    expect(answer.status).toBe(503);
    expect(answer.body).toBe('token unavailable');
    expect(await status.json()).toMatchObject({ status: 'reauth_required', reauth_required: { code: 'invalid_grant' } });
  });
});
