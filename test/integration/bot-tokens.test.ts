/**
 * Bot tokens end to end through the local runtime: the admin API issues signed URLs (validated,
 * scopes checked, shown by the GET), Recall's bot GETs them (no Authorization header, as Recall
 * does) and gets a new token from the fake Zoom's API each time, refreshed through the workers
 * when the stored token is expired or rejected; every refusal is the callback's 403; no token
 * can be minted → 404; Zoom failing → 503. The typed client and the CLI issue URLs too.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { MissingScopeError, ReauthRequiredError, ValidationError, ZoomTokenVaultClient } from 'zoom-token-vault-client';
import { runCli } from '../../cli/main';
import { TIMING } from '../../functions/contract';
import { TABLE_NAME } from '../../local/dynamo';
import type { FakeZoom } from '../../local/fakes/fake-zoom';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

let runtime: LocalRuntime;
let zoom: FakeZoom;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  runtime = await startTestRuntime();
  zoom = runtime.fakeZoom!;
  dynamo = new DynamoDBClient({
    endpoint: runtime.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
}, 30_000);

afterAll(async () => {
  dynamo?.destroy();
  await runtime?.close();
});

interface Issued {
  zoom: { obf_token_url?: string; zak_url?: string; join_token_url?: string };
  expires_at: string;
}

/** A user registered with a fresh grant (every bot scope unless `scope`), and a meeting the user hosts. */
async function registered(userId: string, options: { scope?: string; expiresInSeconds?: number } = {}) {
  const grant = zoom.authorize(`zoom-${userId}`, options);
  const put = await adminCall(runtime, 'PUT', `/users/${userId}/zoom-credential`, grant);
  expect(put.status).toBe(201);
  return { grant, meetingId: zoom.createMeeting(`zoom-${userId}`) };
}

async function issue(
  userId: string,
  body: object,
): Promise<{ status: number; json: Issued & { error?: string; field?: string; message?: string } }> {
  return adminCall(runtime, 'POST', `/users/${userId}/zoom-credential/bot-token-urls`, body);
}

/** A GET as Recall's bot makes it: the URL as given, no Authorization header. */
async function get(url: string | URL) {
  const answer = await fetch(url);
  return {
    status: answer.status,
    body: await answer.text(),
    type: answer.headers.get('content-type'),
    cache: answer.headers.get('cache-control'),
    retryAfter: answer.headers.get('retry-after'),
  };
}

/** The callback's answer to a forged signature: what every bot-token refusal must look like. */
async function callbackRefusal(userId: string) {
  const { json } = await adminCall(runtime, 'GET', `/users/${userId}/zoom-credential`);
  const credential = runtime.fakeRecall!.credentials().find((c) => c.id === json.recall_credential_id)!;
  const forged = new URL(credential.access_token_callback_url);
  forged.searchParams.set('sig', 'A'.repeat(43));
  return get(forged);
}

const setStoredExpiry = (userId: string, at: number) =>
  dynamo.send(
    new UpdateItemCommand({
      TableName: TABLE_NAME,
      Key: { user_id: { S: userId } },
      UpdateExpression: 'SET access_expires_at = :at',
      ExpressionAttributeValues: { ':at': { N: String(at) } },
    }),
  );

describe('minting', () => {
  it('the three kinds, minted from a registered user; each a new single-use token from Zoom, plain text, uncached', async () => {
    // Prepare
    const { meetingId } = await registered('bt-three');
    const before = zoom.apiStats();

    // Act
    const issued = await issue('bt-three', { meeting_id: meetingId, kinds: ['obf', 'zak', 'join_token'] });
    const answers = await Promise.all(
      [issued.json.zoom.obf_token_url!, issued.json.zoom.zak_url!, issued.json.zoom.join_token_url!].map(get),
    );

    // Assess
    expect(issued.status).toBe(200);
    expect(Object.keys(issued.json.zoom).sort()).toEqual(['join_token_url', 'obf_token_url', 'zak_url']);
    expect(Date.parse(issued.json.expires_at) - Date.now()).toBeGreaterThan(86_000_000);
    for (const answer of answers) {
      expect([answer.status, answer.type, answer.cache]).toEqual([200, 'text/plain; charset=utf-8', 'no-store']);
      expect(zoom.useBotToken(answer.body)).toBe(true);
      expect(zoom.useBotToken(answer.body)).toBe(false);
    }
    const after = zoom.apiStats();
    expect([after.onbehalf - before.onbehalf, after.zak - before.zak, after.local_recording - before.local_recording]).toEqual([1, 1, 1]);
  });

  it('two GETs of one URL: two different tokens, two mints at Zoom', async () => {
    // Prepare
    const { meetingId } = await registered('bt-twice');
    const { json } = await issue('bt-twice', { meeting_id: meetingId });
    const before = zoom.apiStats().onbehalf;

    // Act
    const first = await get(json.zoom.obf_token_url!);
    const second = await get(json.zoom.obf_token_url!);

    // Assess
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.body).not.toBe(second.body);
    expect(zoom.apiStats().onbehalf - before).toBe(2);
    expect(Object.keys(json.zoom)).toEqual(['obf_token_url']);
  });

  it('a user whose stored token has expired gets a token within the budget: the workers refresh it first', async () => {
    // Prepare: the stored token expired a minute ago (and Zoom agrees).
    const { meetingId, grant } = await registered('bt-expired');
    const { json } = await issue('bt-expired', { meeting_id: meetingId, kinds: ['zak'] });
    await setStoredExpiry('bt-expired', Date.now() - 60_000);
    zoom.expireAccessTokens('zoom-bt-expired');
    const refreshesBefore = zoom.stats().refreshOk;

    // Act
    const answer = await get(json.zoom.zak_url!);

    // Assess: a 200 is only ever given before the answer's deadline (TIMING.answerBudgetMs).
    expect(answer.status).toBe(200);
    expect(zoom.useBotToken(answer.body)).toBe(true);
    expect(zoom.stats().refreshOk - refreshesBefore).toBe(1);
    expect(zoom.currentRefreshToken('zoom-bt-expired')).not.toBe(grant.refresh_token);
    expect(TIMING.answerBudgetMs).toBeLessThan(5_000);
  });

  it('a token Zoom rejects before its expiry: one refresh through the workers, one more try, a token', async () => {
    // Prepare: the store believes the token fresh; Zoom no longer takes it.
    const { meetingId } = await registered('bt-rejected');
    const { json } = await issue('bt-rejected', { meeting_id: meetingId });
    zoom.expireAccessTokens('zoom-bt-rejected');
    const before = { refreshes: zoom.stats().refreshOk, calls: zoom.apiStats().apiCalls };

    // Act
    const answer = await get(json.zoom.obf_token_url!);

    // Assess
    expect(answer.status).toBe(200);
    expect(zoom.stats().refreshOk - before.refreshes).toBe(1);
    expect(zoom.apiStats().apiCalls - before.calls).toBe(2);
    expect((await adminCall(runtime, 'GET', '/users/bt-rejected/zoom-credential')).json.status).toBe('active');
  });
});

describe('no token', () => {
  it('a tampered meeting id, kind or expiry is refused exactly like a bad callback signature', async () => {
    // Prepare
    const { meetingId } = await registered('bt-tamper');
    const { json } = await issue('bt-tamper', { meeting_id: meetingId, kinds: ['obf', 'zak'] });
    const obf = new URL(json.zoom.obf_token_url!);
    const tampered = (name: string, value: string) => {
      const url = new URL(obf);
      url.searchParams.set(name, value);
      return url;
    };
    const asZak = new URL(obf);
    asZak.pathname = '/zoom/zak';
    const asJoinToken = new URL(obf);
    asJoinToken.pathname = '/zoom/join-token';
    const before = zoom.apiStats().apiCalls;

    // Act
    const refusal = await callbackRefusal('bt-tamper');
    const answers = await Promise.all(
      [
        tampered('meeting_id', String(Number(meetingId) + 1)),
        tampered('exp', String(Number(obf.searchParams.get('exp')) + 1)),
        asZak,
        asJoinToken,
      ].map(get),
    );

    // Assess
    expect(refusal.status).toBe(403);
    for (const answer of answers) expect(answer).toEqual(refusal);
    expect(zoom.apiStats().apiCalls).toBe(before);
  });

  it('a dead grant: 404 reauth_required; the admin API refuses new URLs with 409', async () => {
    // Prepare: a grant the user revoked; the next sweep's refresh finds it dead.
    const { meetingId } = await registered('bt-dead', { expiresInSeconds: 600 });
    const { json } = await issue('bt-dead', { meeting_id: meetingId });
    zoom.revoke('zoom-bt-dead');
    await runtime.sweep();

    // Act
    const answer = await get(json.zoom.obf_token_url!);
    const again = await issue('bt-dead', { meeting_id: meetingId });

    // Assess
    expect([answer.status, answer.body]).toEqual([404, 'reauth_required']);
    expect([again.status, again.json.error]).toEqual([409, 'reauth_required']);
  });

  it("a deleted user's URL: 403, and still 403 once the user is registered again", async () => {
    // Prepare
    const { meetingId } = await registered('bt-deleted');
    const { json } = await issue('bt-deleted', { meeting_id: meetingId });
    const refusal = await callbackRefusal('bt-deleted');
    expect((await adminCall(runtime, 'DELETE', '/users/bt-deleted/zoom-credential')).status).toBe(204);

    // Act
    const deleted = await get(json.zoom.obf_token_url!);
    await registered('bt-deleted');
    const reregistered = await get(json.zoom.obf_token_url!);

    // Assess
    expect(deleted).toEqual(refusal);
    expect(reregistered).toEqual(refusal);
  });

  it('a meeting Zoom does not know: 404 meeting_not_found; Zoom failing: 503 with Retry-After after a bounded retry', async () => {
    // Prepare
    await registered('bt-zoom');
    const unknown = await issue('bt-zoom', { meeting_id: '99999999999', kinds: ['join_token'] });
    const { meetingId } = await registered('bt-zoom-2');
    const { json } = await issue('bt-zoom-2', { meeting_id: meetingId });

    // Act
    const notFound = await get(unknown.json.zoom.join_token_url!);
    zoom.failNextApi(3, { status: 503 });
    const failing = await get(json.zoom.obf_token_url!);
    const recovered = await get(json.zoom.obf_token_url!);

    // Assess
    expect([notFound.status, notFound.body]).toEqual([404, 'meeting_not_found']);
    expect([failing.status, failing.body, failing.retryAfter]).toEqual([503, 'zoom_unavailable', '5']);
    expect(recovered.status).toBe(200);
  });
});

describe('the admin API', () => {
  it.each([
    ['a meeting id that is not a Zoom meeting number', { meeting_id: '123-456' }, 'meeting_id'],
    ['a meeting id as a number', { meeting_id: 85746065432 }, 'meeting_id'],
    ['an unknown kind', { meeting_id: '85746065432', kinds: ['obf', 'zoom'] }, 'kinds.1'],
    ['no kinds', { meeting_id: '85746065432', kinds: [] }, 'kinds'],
    ['a kind twice', { meeting_id: '85746065432', kinds: ['zak', 'zak'] }, 'kinds'],
    ['a validity under a minute', { meeting_id: '85746065432', valid_for_seconds: 59 }, 'valid_for_seconds'],
    ['a validity over a week', { meeting_id: '85746065432', valid_for_seconds: 604_801 }, 'valid_for_seconds'],
    ['no meeting id', { kinds: ['obf'] }, 'meeting_id'],
  ])('400 naming the field: %s', async (_name, body, field) => {
    // Act
    const answer = await issue('bt-three', body);

    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: 'invalid_request', field });
  });

  it("a kind whose scope Zoom's token response left out: 409 naming the scope; the GET shows what the grant can mint", async () => {
    // Prepare
    const { meetingId } = await registered('bt-scopes', { scope: 'user:read:user user:read:zak' });

    // Act
    const refused = await issue('bt-scopes', { meeting_id: meetingId, kinds: ['zak', 'obf'] });
    const zakOnly = await issue('bt-scopes', { meeting_id: meetingId, kinds: ['zak'], valid_for_seconds: 60 });
    const status = await adminCall(runtime, 'GET', '/users/bt-scopes/zoom-credential');

    // Assess
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ error: 'scope_missing', field: 'kinds' });
    expect(refused.json.message).toContain('user:read:token');
    expect(zakOnly.status).toBe(200);
    expect(Date.parse(zakOnly.json.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(status.json).toMatchObject({ bot_token_kinds: ['zak'], zoom_scopes: ['user:read:user', 'user:read:zak'] });
  });

  it('the typed client and the CLI issue URLs; their errors are typed', async () => {
    // Prepare
    const { meetingId } = await registered('bt-client', { scope: 'user:read:zak' });
    await registered('bt-client-dead', { expiresInSeconds: 600 });
    zoom.revoke('zoom-bt-client-dead');
    await runtime.sweep();
    const client = new ZoomTokenVaultClient({ baseUrl: runtime.url, auth: { kind: 'bearer', token: runtime.adminToken }, retries: 0 });
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      cwd: process.cwd(),
    };
    const where = ['--url', runtime.url, '--token', runtime.adminToken];

    // Act
    const urls = await client.botTokenUrls('bt-client', { meetingId, kinds: ['zak'] });
    const scopeError = await client.botTokenUrls('bt-client', { meetingId }).catch((error: unknown) => error);
    const badMeeting = await client.botTokenUrls('bt-client', { meetingId: '12' }).catch((error: unknown) => error);
    const deadError = await client.botTokenUrls('bt-client-dead', { meetingId }).catch((error: unknown) => error);
    const code = await runCli(['bot-urls', 'bt-client', '--meeting', meetingId, '--kinds', 'zak', ...where], io);
    const badKinds = await runCli(['bot-urls', 'bt-client', '--meeting', meetingId, '--kinds', 'zak,nope', ...where], io);

    // Assess
    expect(Object.keys(urls.zoom)).toEqual(['zak_url']);
    expect((await get(urls.zoom.zak_url!)).status).toBe(200);
    expect(scopeError).toBeInstanceOf(MissingScopeError);
    expect(badMeeting).toBeInstanceOf(ValidationError);
    expect((badMeeting as ValidationError).field).toBe('meeting_id');
    expect(deadError).toBeInstanceOf(ReauthRequiredError);
    expect(code).toBe(0);
    expect(Object.keys(JSON.parse(stdout).zoom)).toEqual(['zak_url']);
    expect(badKinds).toBe(2);
    expect(stderr).toContain('--kinds');
  });
});
