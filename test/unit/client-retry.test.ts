/**
 * The client's bounded retries and typed errors, with a scripted fetch (no network, no clock:
 * `sleep` is recorded, not waited).
 */
import {
  AuthError,
  ConflictError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  parseRetryAfter,
  RecallError,
  ReauthRequiredError,
  TokenUnavailableError,
  ValidationError,
  VaultError,
  ZoomTokenVaultClient,
} from 'zoom-token-vault-client';

type Step = { status: number; body?: unknown; headers?: Record<string, string> } | 'network-error';

const BEARER = 'bearer-secret-never-in-errors';
const GRANT = { access_token: 'AT-secret-never-in-errors', refresh_token: 'RT-secret-never-in-errors', expires_in: 3600 };

function scripted(steps: Step[]) {
  const calls: Array<{ method: string; url: string }> = [];
  const sleeps: number[] = [];
  const fake = (async (input: URL | string, init?: RequestInit) => {
    calls.push({ method: init?.method ?? 'GET', url: String(input) });
    const step = steps.shift() ?? { status: 500, body: { error: 'internal_error', message: 'script exhausted' } };
    if (step === 'network-error')
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3000'), { code: 'ECONNREFUSED' }),
      });
    return new Response(step.body === undefined ? null : JSON.stringify(step.body), {
      status: step.status,
      headers: { 'content-type': 'application/json', ...step.headers },
    });
  }) as typeof fetch;
  const client = new ZoomTokenVaultClient({
    baseUrl: 'http://vault.test',
    auth: { kind: 'bearer', token: BEARER },
    fetch: fake,
    retries: { retries: 3, baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 10_000 },
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
  });
  return { client, calls, sleeps };
}

const USER = { user_id: 'alice', status: 'active' };
const serverError = { status: 500, body: { error: 'internal_error', message: 'internal error' } };

async function failure(promise: Promise<unknown>): Promise<VaultError> {
  try {
    await promise;
  } catch (error) {
    return error as VaultError;
  }
  throw new Error('expected a failure');
}

function expectNoSecrets(error: unknown) {
  const text = `${String(error)} ${(error as Error).stack ?? ''} ${JSON.stringify(error)}`;
  for (const secret of [BEARER, GRANT.access_token, GRANT.refresh_token]) expect(text).not.toContain(secret);
}

describe('retries', () => {
  test('a GET is retried on 5xx and network errors, then succeeds', async () => {
    // Prepare
    const { client, calls, sleeps } = scripted([serverError, 'network-error', { status: 504 }, { status: 200, body: USER }]);

    // Act
    const user = await client.get('alice');

    // Assess
    expect(user).toEqual(USER);
    expect(calls).toHaveLength(4);
    expect(sleeps).toEqual([50, 100, 200]); // full jitter at 0.5 over 100·2^n
  });

  test('retries are bounded: retries + 1 attempts, then the last answer as a typed error', async () => {
    // Prepare
    const { client, calls } = scripted(
      Array.from({ length: 10 }, () => ({ status: 503, body: { error: 'refresh_failed', message: 'Zoom is failing' } })),
    );

    // Act
    const error = await failure(client.accessToken('alice'));

    // Assess
    expect(calls).toHaveLength(4);
    expect(error).toBeInstanceOf(TokenUnavailableError);
    expect((error as TokenUnavailableError).reason).toBe('refresh_failed');
  });

  test('no retry on 4xx: 400, 404, 409', async () => {
    // Prepare
    const { client, calls } = scripted([
      { status: 400, body: { error: 'invalid_request', message: 'access_token is required', field: 'access_token' } },
      { status: 404, body: { error: 'not_found', message: 'no credential for this user' } },
      { status: 409, body: { error: 'reauth_required', message: 'the user must re-authorize' } },
      { status: 409, body: { error: 'concurrent_update', message: 'try again' } },
    ]);

    // Act
    const validation = await failure(client.register('alice', GRANT));
    const notFound = await failure(client.get('alice'));
    const reauth = await failure(client.accessToken('alice'));
    const conflict = await failure(client.resync('alice'));

    // Assess
    expect(calls).toHaveLength(4);
    expect(validation).toBeInstanceOf(ValidationError);
    expect((validation as ValidationError).field).toBe('access_token');
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(reauth).toBeInstanceOf(ReauthRequiredError);
    expect(conflict).toBeInstanceOf(ConflictError);
    for (const error of [validation, notFound, reauth, conflict]) expectNoSecrets(error);
  });

  test('a PUT is retried on network errors, 429, 503 and 504 only (a replayed PUT is idempotent)', async () => {
    // Prepare
    const { client, calls } = scripted(['network-error', { status: 429 }, { status: 503 }, { status: 201, body: USER }]);
    const second = scripted([serverError]);
    const third = scripted([
      {
        status: 502,
        body: {
          error: 'recall_error',
          message: 'Recall failed',
          upstream_status: 400,
          upstream_detail: 'The access token callback answered HTTP 403, expected 200.',
        },
      },
    ]);

    // Act
    const registered = await second.client.register('alice', GRANT).catch((error) => error);
    const recall = await failure(third.client.register('alice', GRANT));
    const ok = await client.register('alice', GRANT);

    // Assess
    expect(ok).toEqual({ created: true, user: USER });
    expect(calls.map((call) => call.method)).toEqual(['PUT', 'PUT', 'PUT', 'PUT']);
    expect(second.calls).toHaveLength(1);
    expect(registered).toBeInstanceOf(VaultError);
    expect(registered.status).toBe(500);
    expect(third.calls).toHaveLength(1);
    expect(recall).toBeInstanceOf(RecallError);
    expect(recall).toMatchObject({
      status: 502,
      code: 'recall_error',
      upstreamStatus: 400,
      upstreamDetail: 'The access token callback answered HTTP 403, expected 200.',
    });
    expectNoSecrets(recall);
    expectNoSecrets(registered);
  });

  test("resync: the service's own 502 (Recall failed after its retries) is not retried, the gateway's bare 502 is", async () => {
    // Prepare
    const own = scripted([{ status: 502, body: { error: 'recall_error', message: 'Recall failed', upstream_status: 500 } }]);
    const gateway = scripted([
      { status: 502, body: { message: 'Bad Gateway' } },
      { status: 200, body: USER },
    ]);

    // Act
    const error = await failure(own.client.resync('alice'));
    const user = await gateway.client.resync('alice');

    // Assess
    expect(own.calls).toHaveLength(1);
    expect(error).toBeInstanceOf(RecallError);
    expect(gateway.calls).toHaveLength(2);
    expect(user).toEqual(USER);
  });

  test('Retry-After is honoured on 429; one beyond the limit ends the retries', async () => {
    // Prepare
    const { client, calls, sleeps } = scripted([{ status: 429, headers: { 'retry-after': '2' } }, { status: 204 }]);
    const long = scripted([{ status: 429, headers: { 'retry-after': '3600' } }, { status: 204 }]);

    // Act
    await client.delete('alice');
    const error = await failure(long.client.delete('alice'));

    // Assess
    expect(calls).toHaveLength(2);
    expect(sleeps).toEqual([2_000]);
    expect(long.calls).toHaveLength(1);
    expect(error.status).toBe(429);
  });

  test('network errors after the last retry: NetworkError, status 0, no secret in it', async () => {
    // Prepare
    const { client, calls } = scripted(['network-error', 'network-error', 'network-error', 'network-error', 'network-error']);

    // Act
    const error = await failure(client.register('alice', GRANT));

    // Assess
    expect(calls).toHaveLength(4);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ status: 0, code: 'network_error' });
    expect(error.message).toContain('ECONNREFUSED');
    expectNoSecrets(error);
  });

  test('retries: 0 makes exactly one attempt', async () => {
    // Prepare
    const calls: string[] = [];
    const client = new ZoomTokenVaultClient({
      baseUrl: 'http://vault.test',
      auth: { kind: 'bearer', token: BEARER },
      retries: 0,
      fetch: (async (input: URL | string) => {
        calls.push(String(input));
        return new Response(null, { status: 503 });
      }) as typeof fetch,
    });

    // Act
    const error = await failure(client.get('alice'));

    // Assess
    expect(calls).toHaveLength(1);
    expect(error.status).toBe(503);
  });
});

describe('typed errors', () => {
  test('401/403 are AuthError, 413 PayloadTooLargeError', async () => {
    // Prepare
    const { client, calls } = scripted([
      { status: 401, body: { message: 'Unauthorized' } },
      { status: 403, body: { message: 'Forbidden' } },
      { status: 413, body: { error: 'payload_too_large', message: 'body exceeds 16384 bytes' } },
    ]);

    // Act
    const unauthorized = await failure(client.get('alice'));
    const forbidden = await failure(client.get('alice'));
    const tooLarge = await failure(client.register('alice', GRANT));

    // Assess
    expect(calls).toHaveLength(3);
    expect(unauthorized).toBeInstanceOf(AuthError);
    expect(forbidden).toBeInstanceOf(AuthError);
    expect(tooLarge).toBeInstanceOf(PayloadTooLargeError);
    expect(unauthorized.message).toBe('GET /users/alice/zoom-credential: 401 unauthorized: Unauthorized');
  });
});

describe('list', () => {
  test('listAll pages through with the cursor until next_cursor is null', async () => {
    // Prepare
    const { client, calls } = scripted([
      { status: 200, body: { users: [{ user_id: 'a' }, { user_id: 'b' }], next_cursor: 'c1' } },
      { status: 200, body: { users: [{ user_id: 'c' }], next_cursor: 'c2' } },
      { status: 200, body: { users: [], next_cursor: null } },
    ]);

    // Act
    const ids: string[] = [];
    for await (const user of client.listAll({ status: 'active', limit: 2 })) ids.push(user.user_id);

    // Assess
    expect(ids).toEqual(['a', 'b', 'c']);
    expect(calls.map((call) => new URL(call.url).search)).toEqual([
      '?status=active&limit=2',
      '?status=active&cursor=c1&limit=2',
      '?status=active&cursor=c2&limit=2',
    ]);
  });

  test('listAll without a status goes through every state, each to its last page', async () => {
    // Prepare
    const { client, calls } = scripted([
      { status: 200, body: { users: [{ user_id: 'a' }], next_cursor: 'c1' } },
      { status: 200, body: { users: [{ user_id: 'b' }], next_cursor: null } },
      { status: 200, body: { users: [], next_cursor: null } },
      { status: 200, body: { users: [{ user_id: 'c' }], next_cursor: null } },
      { status: 200, body: { users: [], next_cursor: null } },
      { status: 200, body: { users: [{ user_id: 'd' }], next_cursor: null } },
      { status: 200, body: { users: [{ user_id: 'e' }], next_cursor: null } },
    ]);

    // Act
    const ids: string[] = [];
    for await (const user of client.listAll()) ids.push(user.user_id);

    // Assess
    expect(ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(calls.map((call) => new URL(call.url).search)).toEqual([
      '?status=active',
      '?status=active&cursor=c1',
      '?status=reauth_required',
      '?status=deauthorized',
      '?status=recall_pending',
      '?status=recall_failed',
      '?status=recall_unhealthy',
    ]);
  });

  test('a deployment without the route: route_not_found, not "no such user"', async () => {
    // Prepare
    const { client, calls } = scripted([{ status: 404, body: { message: 'Not Found' } }]);

    // Act
    const error = await failure(client.list({ status: 'active' }));

    // Assess
    expect(calls).toHaveLength(1);
    expect(error.code).toBe('route_not_found');
  });
});

test('parseRetryAfter reads seconds and HTTP dates', () => {
  expect(parseRetryAfter('7')).toBe(7_000);
  expect(parseRetryAfter(new Date(10_000 + 5_000).toUTCString(), 10_000)).toBe(5_000);
  expect(parseRetryAfter('soon')).toBeUndefined();
  expect(parseRetryAfter(null)).toBeUndefined();
});
