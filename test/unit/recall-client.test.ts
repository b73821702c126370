import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { createRecallClient, type RecallClientConfig } from '../../functions/adapters/recall-client';
import { RecallConflictError, UpstreamError } from '../../functions/domain/errors';

const API_KEY = 'rk_test_5f2d9c1e7a3b4c8d';
const SIG = 'c2lnbmF0dXJlLXNob3VsZC1ub3QtbGVhaw';
const CALLBACK_URL = `https://vault.example.com/zoom/token?u=user-1&kid=k1&sig=${SIG}`;
const APP = '6c1a7f0e-3b9d-4a51-8e2c-0d9f4b7a1e22';
const PATH = '/api/v2/zoom-oauth-credentials/';

// ---- a tiny scripted HTTP server -------------------------------------------------------------

interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Answer = { status: number; json?: unknown; text?: string; headers?: Record<string, string> } | 'hang';
type Handler = (request: Recorded, count: number, origin: string) => Answer;

const servers: http.Server[] = [];

async function startServer(handler: Handler) {
  const requests: Recorded[] = [];
  let origin = '';
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const answer = handler(recorded, requests.length, origin);
      if (answer === 'hang') return;
      const type = answer.json !== undefined ? { 'Content-Type': 'application/json' } : {};
      res.writeHead(answer.status, { ...type, ...answer.headers });
      res.end(answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? ''));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, requests };
}

/** Answers from a list, one per request; the last one repeats. */
const script = (...answers: Answer[]) => startServer((_, n) => answers[Math.min(n, answers.length) - 1]);

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }),
  );
});

/** The origin of a server that has been shut: connections to it are refused. */
async function closedOrigin() {
  const { origin } = await script({ status: 200 });
  const server = servers.pop()!;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return origin;
}

function client(baseUrl: string, overrides: Partial<RecallClientConfig> = {}) {
  const delays: number[] = [];
  const recall = createRecallClient({
    baseUrl,
    apiKey: () => API_KEY,
    timeoutMs: 2000,
    sleep: async (ms) => void delays.push(ms),
    random: () => 0.5,
    ...overrides,
  });
  return { recall, delays };
}

const credentialJson = (id: string, userId: string) => ({
  id,
  oauth_app: APP,
  user_id: userId,
  access_token_callback_url: `https://vault.example.com/zoom/token?u=${userId}`,
  created_at: '2025-06-01T12:00:00Z',
  status: 'healthy',
  meeting_sync_status: 'synced',
});

const createInput = { oauthAppId: APP, callbackUrl: CALLBACK_URL, idempotencyKey: 'idem-42' };

/** Everything an error could show: its JSON, its string, its stack, its inspected form. */
const renderings = (error: unknown) => [JSON.stringify(error), String(error), (error as Error).stack ?? '', inspect(error, { depth: 5 })];

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// ---- create ----------------------------------------------------------------------------------

describe('createZoomOAuthCredential', () => {
  it('posts the credential with auth, JSON and Idempotency-Key and maps the 201 body', async () => {
    // Prepare
    const server = await script({
      status: 201,
      json: { ...credentialJson('cred-1', 'zoom-u-1'), access_token_callback_url: CALLBACK_URL },
    });
    const { recall } = client(`${server.origin}/`);

    // Act
    const credential = await recall.createZoomOAuthCredential(createInput);

    // Assess
    expect(credential).toStrictEqual({ id: 'cred-1', status: 'healthy', zoomUserId: 'zoom-u-1', callbackUrl: CALLBACK_URL });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(PATH);
    expect(request.headers.authorization).toBe(`Token ${API_KEY}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['idempotency-key']).toBe('idem-42');
    expect(JSON.parse(request.body)).toStrictEqual({ oauth_app: APP, access_token_callback_url: CALLBACK_URL });
  });

  it('accepts a base URL without a trailing slash and an async API key', async () => {
    // Prepare
    const server = await script({ status: 201, json: { id: 'cred-2', status: 'unhealthy' } });
    const { recall } = client(server.origin, { apiKey: async () => 'async-key' });

    // Act
    const credential = await recall.createZoomOAuthCredential(createInput);

    // Assess
    expect(credential).toStrictEqual({ id: 'cred-2', status: 'unhealthy' });
    expect(server.requests[0].path).toBe(PATH);
    expect(server.requests[0].headers.authorization).toBe('Token async-key');
  });

  it('throws RecallConflictError on a 400 naming a conflicting Zoom user, without retrying', async () => {
    // Prepare
    const detail = 'A Zoom OAuth credential already exists for this user.';
    const server = await script({ status: 400, json: { detail, conflicting_zoom_user_id: 'zoom-u-9' } });
    const { recall, delays } = client(server.origin);

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(RecallConflictError);
    expect(error).toMatchObject({ conflictingZoomUserId: 'zoom-u-9', conflictingZoomAccountId: undefined, detail });
    expect(server.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('also recognises a conflicting Zoom account', async () => {
    // Prepare
    const server = await script({ status: 400, json: { detail: 'exists', conflicting_zoom_account_id: 'acct-3' } });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(RecallConflictError);
    expect(error).toMatchObject({ conflictingZoomUserId: undefined, conflictingZoomAccountId: 'acct-3' });
  });

  it('honours Retry-After on 429 and resends with the same Idempotency-Key', async () => {
    // Prepare
    const server = await script(
      { status: 429, json: { detail: 'Request was throttled.' }, headers: { 'Retry-After': '7' } },
      { status: 201, json: { id: 'cred-3', status: 'healthy' } },
    );
    const { recall, delays } = client(server.origin, { maxRetryAfterMs: 30_000 });

    // Act
    const credential = await recall.createZoomOAuthCredential(createInput);

    // Assess
    expect(credential.id).toBe('cred-3');
    expect(delays).toEqual([7000]);
    expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual(['idem-42', 'idem-42']);
  });

  it('retries 503 and 409 (duplicate still running) with backoff, then succeeds', async () => {
    // Prepare
    const server = await script(
      { status: 503, text: 'unavailable' },
      { status: 409, json: { detail: 'in progress' } },
      { status: 201, json: { id: 'cred-4' } },
    );
    const { recall, delays } = client(server.origin, { baseDelayMs: 100, maxAttempts: 3 });

    // Act
    const credential = await recall.createZoomOAuthCredential(createInput);

    // Assess
    expect(credential).toStrictEqual({ id: 'cred-4' });
    expect(server.requests).toHaveLength(3);
    expect(delays).toEqual([50, 100]);
  });

  it('throws UpstreamError with the last status and detail when retries run out', async () => {
    // Prepare
    const server = await script({ status: 502, json: { detail: 'Upstream gateway failed.' } });
    const { recall, delays } = client(server.origin, { maxAttempts: 3 });

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ upstream: 'recall', status: 502, detail: 'Upstream gateway failed.' });
    expect((error as Error).message).toBe(`Recall POST ${PATH} failed after 3 attempts: HTTP 502`);
    expect(server.requests).toHaveLength(3);
    expect(delays).toHaveLength(2);
  });

  it("scrubs the tokens Recall fetched from the callback out of its detail: the PUT's own, and any Zoom JWT", async () => {
    // Prepare: Recall (which calls the callback during the create) echoes the tokens it got.
    const submitted = { accessToken: 'submitted-access-token-7f3a', refreshToken: 'submitted-refresh-token-9c1b' };
    const refreshedJwt = `eyJhbGciOiJIUzUxMiJ9.${Buffer.from('{"uid":"zoom-u1","exp":1900000000}').toString('base64url')}.c2lnbmF0dXJl`;
    const server = await script({
      status: 400,
      json: {
        detail: `Token ${submitted.accessToken} is invalid (refresh ${submitted.refreshToken}); later ${refreshedJwt} expired.`,
        conflicting_zoom_user_id: 'zoom-u1',
      },
    });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(
      recall.createZoomOAuthCredential({ ...createInput, redact: [submitted.accessToken, submitted.refreshToken] }),
    );

    // Assess
    expect(error).toBeInstanceOf(RecallConflictError);
    const detail = (error as RecallConflictError).detail;
    expect(detail).toBe('Token [redacted] is invalid (refresh [redacted]); later [redacted] expired.');
    expect(inspect(error)).not.toContain(submitted.accessToken);
  });

  it('fails at once on other 4xx with a compact, signature-free field-error detail', async () => {
    // Prepare
    const server = await script({
      status: 400,
      json: { access_token_callback_url: [`Token callback ${CALLBACK_URL} answered 401.`], oauth_app: ['Not found.'] },
    });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ status: 400 });
    expect((error as UpstreamError).detail).toBe(
      '{"access_token_callback_url":["Token callback [redacted] answered 401."],"oauth_app":["Not found."]}',
    );
    expect((error as Error).message).toBe(`Recall POST ${PATH} failed: HTTP 400`);
    expect(server.requests).toHaveLength(1);
  });

  it('truncates a long detail to about 300 characters', async () => {
    // Prepare
    const server = await script({ status: 422, json: { detail: 'x'.repeat(1000) } });
    const { recall } = client(server.origin);

    // Act
    const error = (await caught(recall.createZoomOAuthCredential(createInput))) as UpstreamError;

    // Assess
    expect(error.status).toBe(422);
    expect(error.detail).toHaveLength(300);
    expect(error.detail?.endsWith('…')).toBe(true);
  });

  it('times out a hanging server on every attempt, then throws', async () => {
    // Prepare
    const server = await script('hang');
    const { recall, delays } = client(server.origin, { timeoutMs: 100, maxAttempts: 3 });
    const started = Date.now();

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe(`Recall POST ${PATH} failed after 3 attempts: timeout`);
    expect((error as UpstreamError).status).toBeUndefined();
    expect(server.requests).toHaveLength(3);
    expect(delays).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('stops retrying at the caller deadline', async () => {
    // Prepare
    const server = await script('hang');
    const { recall } = client(server.origin, { timeoutMs: 60_000, maxAttempts: 10, deadline: () => Date.now() + 150 });
    const started = Date.now();

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess: one attempt, cut at the 150 ms deadline (without it: a minute, ten times).
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/timeout$/);
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('rejects a 201 without a credential id', async () => {
    // Prepare
    const server = await script({ status: 201, text: '<html>ok</html>' });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.createZoomOAuthCredential(createInput));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe(`Recall POST ${PATH}: credential without an id in the response`);
  });
});

// ---- list ------------------------------------------------------------------------------------

describe('listZoomOAuthCredentials', () => {
  it('filters by app and user and follows next through three pages', async () => {
    // Prepare
    const server = await startServer((_, n, origin) => {
      if (n === 1)
        return {
          status: 200,
          json: {
            next: `${origin}${PATH}?cursor=p2&oauth_app=${APP}`,
            previous: null,
            results: [credentialJson('c1', 'u1'), credentialJson('c2', 'u1')],
          },
        };
      if (n === 2)
        return { status: 200, json: { next: `${PATH}?cursor=p3&oauth_app=${APP}`, previous: 'x', results: [credentialJson('c3', 'u1')] } };
      return { status: 200, json: { next: null, previous: 'y', results: [credentialJson('c4', 'u1'), credentialJson('c5', 'u1')] } };
    });
    const { recall } = client(server.origin);

    // Act
    const credentials = await recall.listZoomOAuthCredentials({ oauthAppId: APP, zoomUserId: 'u1' });

    // Assess
    expect(credentials.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(credentials[0]).toStrictEqual({
      id: 'c1',
      status: 'healthy',
      zoomUserId: 'u1',
      callbackUrl: 'https://vault.example.com/zoom/token?u=u1',
    });
    expect(server.requests.map((r) => r.path)).toEqual([
      `${PATH}?oauth_app=${APP}&user_id=u1`,
      `${PATH}?cursor=p2&oauth_app=${APP}`,
      `${PATH}?cursor=p3&oauth_app=${APP}`,
    ]);
    expect(server.requests.every((r) => r.method === 'GET' && r.headers.authorization === `Token ${API_KEY}`)).toBe(true);
  });

  it('omits user_id when no Zoom user is given', async () => {
    // Prepare
    const server = await script({ status: 200, json: { next: null, previous: null, results: [] } });
    const { recall } = client(server.origin);

    // Act
    const credentials = await recall.listZoomOAuthCredentials({ oauthAppId: APP });

    // Assess
    expect(credentials).toEqual([]);
    expect(server.requests[0].path).toBe(`${PATH}?oauth_app=${APP}`);
  });

  it('never follows a next URL on another origin (the API key stays home)', async () => {
    // Prepare
    const elsewhere = await script({ status: 200, json: { next: null, results: [credentialJson('evil', 'u1')] } });
    const server = await script({
      status: 200,
      json: { next: `${elsewhere.origin}${PATH}?cursor=p2`, results: [credentialJson('c1', 'u1')] },
    });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.listZoomOAuthCredentials({ oauthAppId: APP, zoomUserId: 'u1' }));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe(`Recall GET ${PATH}: next page is on another origin; not followed`);
    expect((error as UpstreamError).detail).toBe(elsewhere.origin);
    expect(server.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('retries a failing page without restarting from the first', async () => {
    // Prepare
    const server = await startServer((_, n, origin) => {
      if (n === 1) return { status: 200, json: { next: `${origin}${PATH}?cursor=p2`, results: [credentialJson('c1', 'u1')] } };
      if (n === 2) return { status: 504, text: 'gateway timeout' };
      return { status: 200, json: { next: null, results: [credentialJson('c2', 'u1')] } };
    });
    const { recall } = client(server.origin);

    // Act
    const credentials = await recall.listZoomOAuthCredentials({ oauthAppId: APP });

    // Assess
    expect(credentials.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(server.requests.map((r) => r.path)).toEqual([`${PATH}?oauth_app=${APP}`, `${PATH}?cursor=p2`, `${PATH}?cursor=p2`]);
  });

  it('rejects a body without results', async () => {
    // Prepare
    const server = await script({ status: 200, json: { detail: 'what' } });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.listZoomOAuthCredentials({ oauthAppId: APP }));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe(`Recall GET ${PATH}: unexpected response`);
  });
});

// ---- retrieve --------------------------------------------------------------------------------

describe('getZoomOAuthCredential', () => {
  it('gets one credential by id and maps it, the account id included', async () => {
    // Prepare
    const server = await script({ status: 200, json: { ...credentialJson('cred-5', 'zoom-u-5'), account_id: 'acct-5' } });
    const { recall } = client(server.origin);

    // Act
    const credential = await recall.getZoomOAuthCredential('cred-5');

    // Assess
    expect(credential).toStrictEqual({
      id: 'cred-5',
      status: 'healthy',
      zoomUserId: 'zoom-u-5',
      zoomAccountId: 'acct-5',
      callbackUrl: 'https://vault.example.com/zoom/token?u=zoom-u-5',
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: `${PATH}cred-5/` });
    expect(server.requests[0].headers.authorization).toBe(`Token ${API_KEY}`);
  });

  it('answers undefined for a credential Recall does not have (404)', async () => {
    // Prepare
    const server = await script({ status: 404, json: { detail: 'Not found.' } });
    const { recall } = client(server.origin);

    // Act
    const credential = await recall.getZoomOAuthCredential('gone');

    // Assess
    expect(credential).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it('retries a 503, then maps the answer', async () => {
    // Prepare
    const server = await script({ status: 503, text: 'unavailable' }, { status: 200, json: credentialJson('cred-6', 'zoom-u-6') });
    const { recall, delays } = client(server.origin);

    // Act
    const credential = await recall.getZoomOAuthCredential('cred-6');

    // Assess
    expect(credential?.id).toBe('cred-6');
    expect(server.requests).toHaveLength(2);
    expect(delays).toHaveLength(1);
  });

  it('throws on 403 without retrying, the key redacted from the detail', async () => {
    // Prepare
    const server = await script({ status: 403, json: { detail: `Key ${API_KEY} may not read this.` } });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.getZoomOAuthCredential('cred-7'));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ upstream: 'recall', status: 403, detail: 'Key [redacted] may not read this.' });
    expect((error as Error).message).toBe(`Recall GET ${PATH}cred-7/ failed: HTTP 403`);
    expect(server.requests).toHaveLength(1);
  });

  it('stops at the caller deadline', async () => {
    // Prepare
    const server = await script('hang');
    const { recall } = client(server.origin, { timeoutMs: 60_000, maxAttempts: 10, deadline: () => Date.now() + 150 });
    const started = Date.now();

    // Act
    const error = await caught(recall.getZoomOAuthCredential('cred-8'));

    // Assess: one attempt, cut at the 150 ms deadline (without it: a minute, ten times).
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/timeout$/);
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('rejects a 200 without a credential id', async () => {
    // Prepare
    const server = await script({ status: 200, json: { detail: 'what' } });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.getZoomOAuthCredential('cred-9'));

    // Assess
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toBe(`Recall GET ${PATH}cred-9/: credential without an id in the response`);
  });
});

// ---- delete ----------------------------------------------------------------------------------

describe('deleteZoomOAuthCredential', () => {
  it('deletes by id (204)', async () => {
    // Prepare
    const server = await script({ status: 204 });
    const { recall } = client(server.origin);

    // Act
    await recall.deleteZoomOAuthCredential('cred-7');

    // Assess
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: 'DELETE', path: `${PATH}cred-7/` });
    expect(server.requests[0].headers.authorization).toBe(`Token ${API_KEY}`);
  });

  it('treats 404 as already deleted', async () => {
    // Prepare
    const server = await script({ status: 404, json: { detail: 'Not found.' } });
    const { recall } = client(server.origin);

    // Act
    const result = await recall.deleteZoomOAuthCredential('gone');

    // Assess
    expect(result).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it('throws on 403 without retrying', async () => {
    // Prepare
    const server = await script({ status: 403, json: { detail: 'You do not have permission.' } });
    const { recall } = client(server.origin);

    // Act
    const error = await caught(recall.deleteZoomOAuthCredential('cred-8'));

    // Assess
    expect(error).toMatchObject({ upstream: 'recall', status: 403, detail: 'You do not have permission.' });
    expect(server.requests).toHaveLength(1);
  });
});

// ---- secrets ---------------------------------------------------------------------------------

describe('secrets in errors', () => {
  it('never shows the API key or the callback signature in any thrown error', async () => {
    // Prepare
    const echo = `Invalid key ${API_KEY} for ${CALLBACK_URL}`;
    const conflict = await script({ status: 400, json: { detail: echo, conflicting_zoom_user_id: 'z' } });
    const badRequest = await script({ status: 400, json: { detail: echo } });
    const fieldErrors = await script({ status: 400, json: { access_token_callback_url: [echo] } });
    const plainText = await script({ status: 401, text: echo });
    const exhausted = await script({ status: 503, json: { detail: echo } });
    const hanging = await script('hang');
    const refused = await closedOrigin();
    const options = { timeoutMs: 100, maxAttempts: 2 };

    // Act
    const errors = await Promise.all([
      caught(client(conflict.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(badRequest.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(fieldErrors.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(plainText.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(exhausted.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(hanging.origin, options).recall.createZoomOAuthCredential(createInput)),
      caught(client(refused, options).recall.createZoomOAuthCredential(createInput)),
    ]);

    // Assess
    expect(errors.map((e) => (e as Error).constructor.name)).toEqual([
      'RecallConflictError',
      'UpstreamError',
      'UpstreamError',
      'UpstreamError',
      'UpstreamError',
      'UpstreamError',
      'UpstreamError',
    ]);
    expect((errors[6] as Error).message).toBe(`Recall POST ${PATH} failed after 2 attempts: network error (ECONNREFUSED)`);
    expect((errors[1] as UpstreamError).detail).toBe('Invalid key [redacted] for [redacted]');
    for (const error of errors) {
      for (const text of renderings(error)) {
        expect(text).not.toContain(API_KEY);
        expect(text).not.toContain(SIG);
      }
    }
  });
});
