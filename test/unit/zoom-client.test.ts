import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import type { ZoomRefreshResult } from '../../functions/domain/ports';

const CLIENT_ID = 'zoomClientId123';
const CLIENT_SECRET = 'zoomSecret_9f8e7d6c5b4a';
const REFRESH_TOKEN = 'eyJhbGciOiJIUzUxMiJ9.refresh-old.sig';
const TOKEN_PATH = '/oauth/token';

// ---- a tiny scripted HTTP server -------------------------------------------------------------

interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Answer = { status: number; json?: unknown; text?: string } | 'hang';

const servers: http.Server[] = [];

async function startServer(answer: Answer) {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      if (answer === 'hang') return;
      res.writeHead(answer.status, answer.json !== undefined ? { 'Content-Type': 'application/json' } : {});
      res.end(answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? ''));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${TOKEN_PATH}`;
  return { tokenUrl, requests };
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }),
  );
});

const zoom = (tokenUrl: string, timeoutMs = 2000) =>
  createZoomTokenClient({ tokenUrl, clientId: CLIENT_ID, clientSecret: () => CLIENT_SECRET, timeoutMs });

/** Refreshes once against a server giving `answer`; returns the result and what the server saw. */
async function refreshAgainst(answer: Answer, timeoutMs?: number) {
  const server = await startServer(answer);
  const result = await zoom(server.tokenUrl, timeoutMs).refresh(REFRESH_TOKEN);
  return { result, requests: server.requests };
}

const expectNoSecrets = (result: ZoomRefreshResult) => {
  const text = JSON.stringify(result);
  expect(text).not.toContain(CLIENT_SECRET);
  expect(text).not.toContain(REFRESH_TOKEN);
};

describe('ZoomTokenClient.refresh', () => {
  it('posts the refresh grant with Basic auth and a form body, and returns the new pair', async () => {
    // Prepare
    const answer = {
      status: 200,
      json: {
        access_token: 'eyJ.access-new.sig',
        token_type: 'bearer',
        refresh_token: 'eyJ.refresh-new.sig',
        expires_in: 3599,
        scope: 'user:read:zak meeting:read',
        api_url: 'https://api.zoom.us',
      },
    };

    // Act
    const { result, requests } = await refreshAgainst(answer);

    // Assess
    expect(result).toStrictEqual({
      kind: 'ok',
      tokens: { accessToken: 'eyJ.access-new.sig', refreshToken: 'eyJ.refresh-new.sig', scope: 'user:read:zak meeting:read' },
      expiresInSeconds: 3599,
    });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(TOKEN_PATH);
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(request.body))).toStrictEqual({
      grant_type: 'refresh_token',
      refresh_token: REFRESH_TOKEN,
    });
  });

  it('reads an async secret and leaves out a missing scope', async () => {
    // Prepare
    const server = await startServer({ status: 200, json: { access_token: 'a1', refresh_token: 'r1', expires_in: 3600 } });
    const client = createZoomTokenClient({ tokenUrl: server.tokenUrl, clientId: 'id', clientSecret: async () => 's3' });

    // Act
    const result = await client.refresh('r0');

    // Assess
    expect(result).toStrictEqual({ kind: 'ok', tokens: { accessToken: 'a1', refreshToken: 'r1' }, expiresInSeconds: 3600 });
    expect(server.requests[0].headers.authorization).toBe(`Basic ${Buffer.from('id:s3').toString('base64')}`);
  });

  it('reports invalid_grant as a dead grant with Zoom’s reason', async () => {
    // Act
    const { result, requests } = await refreshAgainst({ status: 400, json: { reason: 'Invalid Token!', error: 'invalid_grant' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'grant_dead', error: 'invalid_grant', reason: 'Invalid Token!' });
    expect(requests).toHaveLength(1);
  });

  it('reports Zoom’s numbered revoked-token error as a dead grant', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 401, json: { code: 4741, message: 'Token has been revoked.' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'grant_dead', error: '4741', reason: 'Token has been revoked.' });
  });

  it('reports invalid_client as misconfigured', async () => {
    // Act
    const { result } = await refreshAgainst({
      status: 401,
      json: { reason: 'Invalid client_id or client_secret', error: 'invalid_client' },
    });

    // Assess
    expect(result).toStrictEqual({
      kind: 'misconfigured',
      status: 401,
      error: 'invalid_client',
      reason: 'Invalid client_id or client_secret',
    });
  });

  it('reports a bare 401 as misconfigured', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 401 });

    // Assess
    expect(result).toStrictEqual({ kind: 'misconfigured', status: 401, error: 'http_401' });
  });

  it('reports 429 as retryable after exactly one request', async () => {
    // Act
    const { result, requests } = await refreshAgainst({ status: 429, text: 'Too Many Requests' });

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', status: 429, error: 'http_429' });
    expect(requests).toHaveLength(1);
  });

  it.each([502, 504])(
    'reports a gateway %i as ambiguous: the gateway may have passed the refresh on, and Zoom spent the token',
    async (status) => {
      // Act
      const { result, requests } = await refreshAgainst({ status, text: '<html>Bad Gateway</html>' });

      // Assess
      expect(result).toStrictEqual({ kind: 'ambiguous', status, error: `http_${status}` });
      expect(requests).toHaveLength(1);
    },
  );

  it('reports 503 as retryable: Zoom refused before acting', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 503, json: { error: 'server_error' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', status: 503, error: 'server_error' });
  });

  it('reports 500 as retryable after exactly one request', async () => {
    // Act
    const { result, requests } = await refreshAgainst({ status: 500, json: { error: 'server_error' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', status: 500, error: 'server_error' });
    expect(requests).toHaveLength(1);
  });

  it('times out a hanging server with the per-call timeout: ambiguous, the request was sent', async () => {
    // Prepare
    const server = await startServer('hang');
    const client = zoom(server.tokenUrl, 10_000);
    const started = Date.now();

    // Act
    const result = await client.refresh(REFRESH_TOKEN, { timeoutMs: 100 });

    // Assess: the per-call timeout, not the client's 10 s (a timer never fires early; how late it
    // fires depends on the machine, so only the lower bound is asserted).
    expect(result).toStrictEqual({ kind: 'ambiguous', error: 'timeout' });
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('reports an unparsable 200 as ambiguous (the token may be spent)', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 200, text: '<html>maintenance</html>' });

    // Assess
    expect(result).toStrictEqual({ kind: 'ambiguous', status: 200, error: 'invalid_response' });
  });

  it('reports a 200 without a refresh token as ambiguous (the token may be spent)', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 200, json: { access_token: 'a', expires_in: 3600 } });

    // Assess
    expect(result).toStrictEqual({ kind: 'ambiguous', status: 200, error: 'invalid_response' });
  });

  it('reports a refused connection as retryable (nothing was sent)', async () => {
    // Prepare
    const server = await startServer({ status: 200 });
    const closed = servers.pop()!;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    // Act
    const result = await zoom(server.tokenUrl).refresh(REFRESH_TOKEN);

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', error: 'connection_failed' });
  });

  it('sends nothing when the client secret cannot be read', async () => {
    // Prepare
    const server = await startServer({ status: 200 });
    const client = createZoomTokenClient({
      tokenUrl: server.tokenUrl,
      clientId: CLIENT_ID,
      clientSecret: async () => {
        throw new Error(`secrets manager said no to ${CLIENT_SECRET}`);
      },
    });

    // Act
    const result = await client.refresh(REFRESH_TOKEN);

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', error: 'client_secret_unavailable' });
    expect(server.requests).toHaveLength(0);
  });

  describe('the client secret read', () => {
    /** A secret read that never settles (a hung Secrets Manager call). */
    const hung = () => new Promise<string>(() => undefined);
    /** Guards against a call that never settles: the test fails instead of hanging. */
    const settledWithin = <T>(promise: Promise<T>, ms = 10_000) =>
      Promise.race([promise, new Promise<'still pending'>((resolve) => setTimeout(() => resolve('still pending'), ms).unref())]);

    it('is bounded: a hung read ends the refresh as retryable within its timeout, and nothing is sent', async () => {
      // Prepare
      const server = await startServer({ status: 200 });
      const client = createZoomTokenClient({ tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: hung });

      // Act
      const result = await settledWithin(client.refresh(REFRESH_TOKEN, { timeoutMs: 100 }));

      // Assess
      expect(result).toStrictEqual({ kind: 'retryable', error: 'client_secret_unavailable' });
      expect(server.requests).toHaveLength(0);
    });

    it("counts against the call's timeout: a read slower than the whole wait sends nothing", async () => {
      // Prepare: the secret arrives after 300 ms; the caller allows 100 ms in all.
      const server = await startServer({ status: 200, json: { access_token: 'a1', refresh_token: 'r1', expires_in: 3600 } });
      const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve(CLIENT_SECRET), 300));
      const client = createZoomTokenClient({ tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: slow });

      // Act
      const result = await client.refresh(REFRESH_TOKEN, { timeoutMs: 100 });
      await new Promise((resolve) => setTimeout(resolve, 400));

      // Assess
      expect(result).toStrictEqual({ kind: 'retryable', error: 'client_secret_unavailable' });
      expect(server.requests).toHaveLength(0);
    });

    it('is done by ready(), before a refresh is started: bounded, and it fails when the secret cannot be read', async () => {
      // Prepare
      const server = await startServer({ status: 200 });
      const make = (clientSecret: () => Promise<string>) =>
        createZoomTokenClient({ tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret, secretTimeoutMs: 100 });

      // Act
      const readable = await settledWithin(make(async () => CLIENT_SECRET).ready());
      const unreadable = await settledWithin(
        make(hung)
          .ready()
          .then(
            () => 'ready',
            (error: Error) => error.message,
          ),
      );

      // Assess
      expect(readable).toBeUndefined();
      expect(unreadable).toBe('Zoom client secret unavailable');
      expect(server.requests).toHaveLength(0);
    });
  });

  it('keeps the refresh token and secret out of results even when Zoom echoes them', async () => {
    // Prepare
    const echo = `bad token ${REFRESH_TOKEN} for ${CLIENT_SECRET}`;
    const answers: Answer[] = [
      { status: 400, json: { error: 'invalid_grant', reason: echo } },
      { status: 401, json: { error: 'invalid_client', reason: echo } },
      { status: 400, json: { error: echo } },
      { status: 503, json: { error: echo } },
    ];

    // Act
    const results = await Promise.all(answers.map(async (answer) => (await refreshAgainst(answer)).result));

    // Assess
    expect(results.map((r) => r.kind)).toEqual(['grant_dead', 'misconfigured', 'misconfigured', 'retryable']);
    expect(results[0]).toStrictEqual({ kind: 'grant_dead', error: 'invalid_grant', reason: 'bad token [redacted] for [redacted]' });
    results.forEach(expectNoSecrets);
  });

  it('reports a connection lost after the request went out as ambiguous', async () => {
    // Prepare: a server that reads the request, then drops the connection without answering.
    const requests: string[] = [];
    const server = http.createServer((req) => {
      req.resume();
      req.on('end', () => {
        requests.push(req.url ?? '');
        req.socket.destroy();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${TOKEN_PATH}`;

    // Act
    const result = await zoom(tokenUrl).refresh(REFRESH_TOKEN);

    // Assess
    expect(result).toStrictEqual({ kind: 'ambiguous', error: 'connection_lost' });
    expect(requests).toHaveLength(1);
  });

  it('reports 408 as retryable', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 408, json: { error: 'request_timeout' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'retryable', status: 408, error: 'request_timeout' });
  });

  it('reports {"error":"invalid_request","reason":"Invalid Token!"} as a dead grant, not misconfigured', async () => {
    // Act: what Zoom answers for a spent refresh token on some paths.
    const { result } = await refreshAgainst({ status: 400, json: { reason: 'Invalid Token!', error: 'invalid_request' } });

    // Assess
    expect(result).toStrictEqual({ kind: 'grant_dead', error: 'invalid_request', reason: 'Invalid Token!' });
  });

  it("reports Zoom's 4735 code as a dead grant", async () => {
    // Act
    const { result } = await refreshAgainst({ status: 400, json: { code: 4735, message: 'Owner of the grant is gone.' } });

    // Assess
    expect(result).toMatchObject({ kind: 'grant_dead', error: '4735' });
  });

  it('keeps invalid_client misconfigured even with reason "Invalid Token!"', async () => {
    // Act
    const { result } = await refreshAgainst({ status: 401, json: { reason: 'Invalid Token!', error: 'invalid_client' } });

    // Assess
    expect(result).toMatchObject({ kind: 'misconfigured', status: 401, error: 'invalid_client' });
  });

  describe('a 2xx with both tokens is always ok, whatever else is missing', () => {
    /** An unsigned JWT-shaped access token with the given `exp` (seconds). */
    const jwtWithExp = (exp: number) =>
      `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ uid: 'u', exp })).toString('base64url')}.sig`;
    const exp = 1_900_000_000;

    it("without expires_in: ok, the expiry taken from the access token's exp", async () => {
      // Act
      const { result } = await refreshAgainst({ status: 200, json: { access_token: jwtWithExp(exp), refresh_token: 'r1' } });

      // Assess
      expect(result).toStrictEqual({
        kind: 'ok',
        tokens: { accessToken: jwtWithExp(exp), refreshToken: 'r1' },
        tokenExpiresAt: exp * 1000,
      });
    });

    it.each([
      ['a non-numeric string', 'soon'],
      ['zero', 0],
      ['a negative number', -5],
      ['null', null],
    ])('with expires_in %s: ok, expires_in ignored, the expiry taken from exp', async (_label, expiresIn) => {
      // Act
      const { result } = await refreshAgainst({
        status: 200,
        json: { access_token: jwtWithExp(exp), refresh_token: 'r1', expires_in: expiresIn },
      });

      // Assess
      expect(result).toStrictEqual({
        kind: 'ok',
        tokens: { accessToken: jwtWithExp(exp), refreshToken: 'r1' },
        tokenExpiresAt: exp * 1000,
      });
    });

    it('with a numeric-string expires_in: ok with that lifetime', async () => {
      // Act
      const { result } = await refreshAgainst({ status: 200, json: { access_token: 'opaque', refresh_token: 'r1', expires_in: '3599' } });

      // Assess
      expect(result).toStrictEqual({ kind: 'ok', tokens: { accessToken: 'opaque', refreshToken: 'r1' }, expiresInSeconds: 3599 });
    });

    it('with neither expires_in nor a JWT access token: still ok (the caller assumes a short life)', async () => {
      // Act
      const { result } = await refreshAgainst({ status: 201, json: { access_token: 'opaque', refresh_token: 'r1' } });

      // Assess
      expect(result).toStrictEqual({ kind: 'ok', tokens: { accessToken: 'opaque', refreshToken: 'r1' } });
    });
  });
});
