/**
 * Nothing the service writes (stdout, stderr, console) may hold a token, the callback URL's
 * signature, the Recall API key, the Zoom client secret, the admin token, Recall's verification
 * secret or the values of Recall's signature headers, even at DEBUG.
 *
 * Its own file and runtime: the log level is read once, when the handlers are imported. Nothing
 * here depends on the machine's speed: the runtime keeps its default Recall timeouts, no answer
 * waits on a refresh (tokens are served from storage; the refreshes they ask for are awaited by
 * draining the refresh queue), and every failure is one that does not come from a timeout.
 */
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';
import { DEFAULT_FAKE_RECALL_API_KEY, recallSignatureHeaders } from '../../local/fakes/fake-recall';
import { DEFAULT_FAKE_ZOOM_CLIENT_SECRET } from '../../local/fakes/fake-zoom';

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });
}, 30_000);

afterAll(async () => {
  await runtime?.close();
});

/** Everything written while `fn` runs, line by line; nothing reaches the terminal meanwhile. */
async function capture(fn: () => Promise<void>): Promise<string[]> {
  const chunks: string[] = [];
  const record = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    return true;
  };
  const spies = [
    jest.spyOn(process.stdout, 'write').mockImplementation(record as never),
    jest.spyOn(process.stderr, 'write').mockImplementation(record as never),
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void record(args.map(String).join(' '))),
    ),
  ];
  try {
    await fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return chunks
    .join('\n')
    .split('\n')
    .filter((line) => line.trim() !== '');
}

async function call(method: string, path: string, body?: object, token = runtime.adminToken) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, json: (await response.json().catch(() => undefined)) as any };
}

test('a full cycle at DEBUG (register, refresh, status, access token, callback, failures, dead grant) logs no secret', async () => {
  // Prepare
  const zoom = runtime.fakeZoom!;
  const recall = runtime.fakeRecall!;
  const userId = 'log-user-1';
  // 200 s of life: served to Recall's validation call at once, and a refresh asked for.
  const grant = zoom.authorize('zoom-log-user', { expiresInSeconds: 200 });
  const served: string[] = [];
  let callbackUrl = '';

  // Act
  const lines = await capture(async () => {
    const put = await call('PUT', `/users/${userId}/zoom-credential`, grant);
    expect(put.status).toBe(201);
    await runtime.refreshQueue.drain();
    expect((await call('GET', `/users/${userId}/zoom-credential`)).status).toBe(200);
    const token = await call('GET', `/users/${userId}/zoom-credential/access-token`);
    expect(token.status).toBe(200);
    served.push(token.json.access_token);
    const fetched = await recall.fetchToken(put.json.recall_credential_id);
    expect(fetched.status).toBe(200);
    served.push(fetched.body);
    callbackUrl = recall.credentials().find((c) => c.id === put.json.recall_credential_id)!.access_token_callback_url;
    // A forged signature, a Recall outage and a rejected token: the warning paths.
    const forged = new URL(callbackUrl);
    forged.searchParams.set('sig', 'A'.repeat(43));
    expect((await fetch(forged)).status).toBe(403);
    recall.failNext(3, { status: 503 });
    const other = zoom.authorize('zoom-log-user-2');
    expect((await call('PUT', '/users/log-user-2/zoom-credential', other)).status).toBe(502);
    served.push(other.access_token, other.refresh_token);
    const rejected = { access_token: 'not-a-zoom-token-secret', refresh_token: 'not-a-zoom-refresh-secret', expires_in: 3600 };
    expect((await call('PUT', '/users/log-user-3/zoom-credential', rejected)).status).toBe(502);
    // Near expiry with a refresh token Zoom does not know: the refresh meets invalid_grant (and
    // Recall's validation is refused, whether it waited for that verdict or gave up first).
    const dead = {
      access_token: zoom.authorize('zoom-log-user-4', { expiresInSeconds: 60 }).access_token,
      refresh_token: 'dead-refresh-secret',
      expires_in: 60,
    };
    expect((await call('PUT', '/users/log-user-4/zoom-credential', dead)).status).toBe(502);
    await runtime.refreshQueue.drain();
    served.push(dead.access_token);
    expect((await call('GET', `/users/${userId}/zoom-credential`, undefined, 'wrong-admin-token')).status).toBe(401);
  });

  // Assess
  const sig = new URL(callbackUrl).searchParams.get('sig');
  expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const refreshed = zoom.currentRefreshToken('zoom-log-user');
  expect(refreshed).toBeDefined();
  expect(refreshed).not.toBe(grant.refresh_token); // the refresh really happened
  expect(served[0]).not.toBe(grant.access_token);
  const secrets: Record<string, string> = {
    'granted access token': grant.access_token,
    'granted refresh token': grant.refresh_token,
    'refreshed refresh token': refreshed!,
    'served access token': served[0],
    'callback access token': served[1],
    'second user access token': served[2],
    'second user refresh token': served[3],
    'rejected access token': 'not-a-zoom-token-secret',
    'rejected refresh token': 'not-a-zoom-refresh-secret',
    'dead grant access token': served[4],
    'dead refresh token': 'dead-refresh-secret',
    'callback signature': sig!,
    'Recall API key': DEFAULT_FAKE_RECALL_API_KEY,
    'Zoom client secret': DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
    'admin token': runtime.adminToken,
  };
  expect(lines.length).toBeGreaterThan(5);
  expect(lines.some((line) => line.includes('user registered'))).toBe(true);
  expect(lines.some((line) => line.includes('token refreshed'))).toBe(true);
  expect(lines.some((line) => line.includes('upstream failed'))).toBe(true);
  expect(lines.some((line) => line.includes('grant is dead'))).toBe(true);
  const leaks = Object.entries(secrets).flatMap(([name, secret]) =>
    lines.filter((line) => line.includes(secret)).map((line) => `${name}: ${line}`),
  );
  expect(leaks).toEqual([]);
  // Token fragments too: a JWT's signature part alone is a leak.
  for (const token of [grant.access_token, served[0]]) {
    const jwtSignature = token.split('.')[2];
    expect(lines.filter((line) => line.includes(jwtSignature))).toEqual([]);
  }
});

test('bot tokens at DEBUG (issue URLs, mint each kind, refusals, a rejected access token refreshed, Zoom failing) log no token or signature', async () => {
  // Prepare
  const zoom = runtime.fakeZoom!;
  const userId = 'log-bot-user';
  const grant = zoom.authorize('zoom-log-bot-user');
  const meetingId = zoom.createMeeting('zoom-log-bot-user');
  const minted: string[] = [];
  const signatures: string[] = [];

  // Act
  const lines = await capture(async () => {
    expect((await call('PUT', `/users/${userId}/zoom-credential`, grant)).status).toBe(201);
    const issued = await call('POST', `/users/${userId}/zoom-credential/bot-token-urls`, {
      meeting_id: meetingId,
      kinds: ['obf', 'zak', 'join_token'],
    });
    expect(issued.status).toBe(200);
    const urls = Object.values(issued.json.zoom as Record<string, string>);
    for (const url of urls) {
      signatures.push(new URL(url).searchParams.get('sig')!);
      const answer = await fetch(url);
      expect(answer.status).toBe(200);
      minted.push(await answer.text());
    }
    // Refused: a tampered meeting, a kind the grant lacks (another user), an unknown meeting.
    const tampered = new URL(urls[0]);
    tampered.searchParams.set('meeting_id', '99999999999');
    expect((await fetch(tampered)).status).toBe(403);
    const narrow = zoom.authorize('zoom-log-bot-narrow', { scope: 'user:read:zak' });
    expect((await call('PUT', '/users/log-bot-narrow/zoom-credential', narrow)).status).toBe(201);
    expect((await call('POST', '/users/log-bot-narrow/zoom-credential/bot-token-urls', { meeting_id: meetingId })).status).toBe(409);
    // Zoom rejects the stored token: the workers refresh it, the retry mints.
    zoom.expireAccessTokens('zoom-log-bot-user');
    const afterRefresh = await fetch(urls[1]);
    expect(afterRefresh.status).toBe(200);
    minted.push(await afterRefresh.text());
    // Zoom failing after the bounded retry.
    zoom.failNextApi(3, { status: 503 });
    expect((await fetch(urls[0])).status).toBe(503);
  });

  // Assess
  const refreshed = zoom.currentRefreshToken('zoom-log-bot-user');
  expect(refreshed).not.toBe(grant.refresh_token);
  const secrets = [...minted, ...signatures, grant.access_token, grant.refresh_token, refreshed!];
  expect(lines.some((line) => line.includes('bot token minted'))).toBe(true);
  expect(lines.some((line) => line.includes('bot token not minted'))).toBe(true);
  expect(lines.some((line) => line.includes('bot-token URLs issued'))).toBe(true);
  expect(secrets.filter((secret) => lines.some((line) => line.includes(secret)))).toEqual([]);
  expect(lines.filter((line) => line.includes(grant.access_token.split('.')[2]))).toEqual([]);
});

test("Recall's request signature at DEBUG (enforced and reported; signed, unsigned, stale, foreign) logs no secret and no header value", async () => {
  // Prepare: two runtimes of their own, Recall's secret configured (two while rotating).
  const secret = (fill: number) => `whsec_${Buffer.alloc(32, fill).toString('base64')}`;
  const [oldSecret, newSecret, foreign] = [secret(11), secret(12), secret(13)];
  const debug = { POWERTOOLS_LOG_LEVEL: 'DEBUG', POWERTOOLS_METRICS_DISABLED: 'false' };
  const enforcing = await startTestRuntime({ ...debug, RECALL_VERIFICATION_SECRET: `${oldSecret} ${newSecret}` });
  const reporting = await startTestRuntime({ ...debug, RECALL_VERIFICATION_SECRET: newSecret, RECALL_SIGNATURE_MODE: 'report' });
  const sent: Record<string, string>[] = [];
  const headers = (withSecret: string, at = Date.now()) => {
    const signed = recallSignatureHeaders(withSecret, at);
    sent.push(signed);
    return signed;
  };
  const served: string[] = [];
  const statuses: number[] = [];

  try {
    // Act
    const lines = await capture(async () => {
      for (const [runtime, signWith] of [
        [enforcing, oldSecret],
        [reporting, newSecret],
      ] as const) {
        const grant = runtime.fakeZoom!.authorize('zoom-log-signed');
        served.push(grant.access_token, grant.refresh_token);
        const put = await adminCall(runtime, 'PUT', '/users/log-signed/zoom-credential', grant);
        expect(put.status).toBe(201);
        const url = runtime.fakeRecall!.credentials()[0].access_token_callback_url;
        for (const extra of [{}, headers(signWith), headers(signWith, Date.now() - 3600_000), headers(foreign)]) {
          const answer = await fetch(url, { headers: extra });
          statuses.push(answer.status);
          served.push(await answer.text());
        }
      }
    });

    // Assess: each path ran (refused and reported), and none of it is in a line.
    expect(statuses).toEqual([403, 200, 403, 403, 200, 200, 200, 200]);
    expect(lines.filter((line) => line.includes('no valid Recall signature')).length).toBeGreaterThanOrEqual(6);
    expect(lines.some((line) => line.includes('"RecallSignatureFailures":1'))).toBe(true);
    const values = [
      ...[oldSecret, newSecret, foreign].flatMap((value) => [value, value.slice('whsec_'.length)]),
      ...sent.flatMap((signed) => [signed['webhook-id'], ...signed['webhook-signature'].split(' ').map((v1) => v1.slice(3))]),
      ...served.filter((body) => body.length > 20),
    ];
    expect(values.filter((value) => lines.some((line) => line.includes(value)))).toEqual([]);
  } finally {
    await Promise.all([enforcing.close(), reporting.close()]);
  }
}, 60_000);
