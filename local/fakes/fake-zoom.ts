/**
 * A fake of Zoom's OAuth token endpoint (refresh grant only), on loopback, with node:http.
 *
 * Follows Zoom's documented behaviour (see /work/shared/reference/recall-and-zoom.md):
 * - `POST /oauth/token`, `Authorization: Basic base64(client_id:client_secret)`, form body
 *   `grant_type=refresh_token&refresh_token=...` (token values are read from the body only).
 * - Refresh tokens are single-use: each refresh returns a new access AND refresh token and the old
 *   refresh token is dead at once. Old access tokens stay valid until they expire (they are JWTs).
 * - Errors: 401 invalid_client, 400 invalid_request / unsupported_grant_type / invalid_grant.
 *
 * Fake-only route: `POST /fake/authorize?zoom_user_id=X[&expires_in=S]` mints a fresh grant for X
 * (as if the user had completed the OAuth flow) and answers Zoom's token JSON. Demo use only.
 *
 * Optional `stateFile`: the signing secret, grants and live access tokens are loaded from it at start
 * and rewritten (atomically, mode 0600) after every change, so the fake survives a restart of the
 * local runtime. Counters, injected failures and the TTL setting stay in memory.
 *
 * Never logs tokens or secrets (it logs nothing at all).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, readBody, readStateFile, sendJson, stateFileError, writeStateFile } from './http-util';

export interface FakeZoomOptions {
  port?: number;
  host?: string;
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of access tokens minted by refreshes and by authorize(). Default 3600. */
  accessTokenTtlSeconds?: number;
  /**
   * Optional JSON file holding the fake's state (signing secret, grants, unexpired access tokens):
   * loaded at start when it exists (an unusable file makes start reject), rewritten after each change.
   * Without it, everything lives in memory only.
   */
  stateFile?: string;
}

export interface ZoomTokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: 'bearer';
  scope: string;
  api_url: string;
}

export type ZoomFailure = { status: 429 | 500 | 502 | 503; retryAfterSeconds?: number } | 'hang';

export interface FakeZoom {
  url: string;
  tokenUrl: string;
  /** Simulates a user completing Zoom's OAuth flow: mints a fresh grant. Returns Zoom's token response body. */
  authorize(zoomUserId: string, options?: { expiresInSeconds?: number }): ZoomTokenResponse;
  /** Introspection used by fake Recall and by tests: undefined if unknown, expired or revoked. */
  verifyAccessToken(token: string): { zoomUserId: string; expiresAt: number } | undefined;
  /** The user revokes the app: later refreshes answer invalid_grant, their access tokens stop verifying. */
  revoke(zoomUserId: string): void;
  /** The next `count` requests to /oauth/token fail as told, before any processing (no rotation). */
  failNext(count: number, how: ZoomFailure): void;
  /**
   * Zoom hangs: requests to /oauth/token from now on wait, unprocessed (counted in refreshCalls
   * on arrival), until `release()`; then each is processed as usual. `waiting()`: how many wait.
   */
  hold(): { release(): void; waiting(): number };
  setAccessTokenTtl(seconds: number): void;
  /** refreshCalls counts every POST /oauth/token received, injected failures included. */
  stats(): { refreshCalls: number; refreshOk: number; invalidGrant: number };
  currentRefreshToken(zoomUserId: string): string | undefined;
  close(): Promise<void>;
}

export const DEFAULT_FAKE_ZOOM_CLIENT_ID = 'fakeZoomClientId';
export const DEFAULT_FAKE_ZOOM_CLIENT_SECRET = 'fakeZoomClientSecret';
const SCOPE = 'user:read:user user:read:zak meeting:read:meeting';

interface Grant {
  refreshToken: string;
  revoked: boolean;
}

interface AccessTokenInfo {
  zoomUserId: string;
  expiresAt: number;
}

/** What `stateFile` holds. Access tokens are kept by their JWT signature (the HMAC binds it to the rest). */
interface FakeZoomState {
  version: 1;
  signingSecret: string; // base64url
  grants: Array<{ zoomUserId: string; refreshToken: string; revoked: boolean }>;
  accessTokens: Array<{ signature: string; zoomUserId: string; expiresAt: number }>;
}

function loadState(file: string): FakeZoomState | undefined {
  const raw = readStateFile(file);
  if (raw === undefined) return undefined;
  const state = raw as Partial<FakeZoomState> | null;
  const bad = (why: string) => stateFileError(file, why);
  if (!state || typeof state !== 'object' || state.version !== 1) throw bad('not a fake Zoom state (version 1)');
  if (typeof state.signingSecret !== 'string' || Buffer.from(state.signingSecret, 'base64url').length < 32) {
    throw bad('missing or invalid signingSecret');
  }
  if (
    !Array.isArray(state.grants) ||
    !state.grants.every(
      (g) => g && typeof g.zoomUserId === 'string' && typeof g.refreshToken === 'string' && typeof g.revoked === 'boolean',
    )
  ) {
    throw bad('invalid grants');
  }
  if (
    !Array.isArray(state.accessTokens) ||
    !state.accessTokens.every(
      (t) => t && typeof t.signature === 'string' && typeof t.zoomUserId === 'string' && Number.isFinite(t.expiresAt),
    )
  ) {
    throw bad('invalid accessTokens');
  }
  return state as FakeZoomState;
}

export async function startFakeZoom(options: FakeZoomOptions = {}): Promise<FakeZoom> {
  const clientId = options.clientId ?? DEFAULT_FAKE_ZOOM_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEFAULT_FAKE_ZOOM_CLIENT_SECRET;
  let ttlSeconds = options.accessTokenTtlSeconds ?? 3600;
  const stateFile = options.stateFile;
  const saved = stateFile === undefined ? undefined : loadState(stateFile);
  const signingSecret = saved ? Buffer.from(saved.signingSecret, 'base64url') : randomBytes(32);
  const grants = new Map<string, Grant>(); // by zoom user id
  const userByRefreshToken = new Map<string, string>(); // current refresh tokens only
  const accessTokens = new Map<string, AccessTokenInfo>(); // by JWT signature
  for (const { zoomUserId, refreshToken, revoked } of saved?.grants ?? []) {
    grants.set(zoomUserId, { refreshToken, revoked });
    userByRefreshToken.set(refreshToken, zoomUserId);
  }
  for (const { signature, zoomUserId, expiresAt } of saved?.accessTokens ?? []) {
    if (expiresAt > Date.now()) accessTokens.set(signature, { zoomUserId, expiresAt });
  }
  const failures: ZoomFailure[] = [];
  let holding: { released: Promise<void>; waiting: number } | undefined;
  const counters = { refreshCalls: 0, refreshOk: 0, invalidGrant: 0 };

  /** Rewrites the state file (when configured) after a change; expired access tokens are left out. */
  function persist(): void {
    if (stateFile === undefined) return;
    const now = Date.now();
    const state: FakeZoomState = {
      version: 1,
      signingSecret: signingSecret.toString('base64url'),
      grants: [...grants].map(([zoomUserId, grant]) => ({ zoomUserId, ...grant })),
      accessTokens: [...accessTokens]
        .filter(([, info]) => info.expiresAt > now)
        .map(([signature, info]) => ({ signature, ...info })),
    };
    writeStateFile(stateFile, state);
  }

  function sign(unsigned: string): string {
    return createHmac('sha256', signingSecret).update(unsigned).digest('base64url');
  }

  function mintAccessToken(zoomUserId: string, lifetimeSeconds: number): { token: string; expiresAt: number } {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const header = { alg: 'HS256', v: '2.0', kid: randomBytes(12).toString('base64url') };
    const payload = {
      ver: 9,
      auid: randomBytes(24).toString('hex'),
      uid: zoomUserId,
      nbf: nowSeconds,
      code: randomBytes(24).toString('base64url'),
      iss: `zm:cid:${clientId}`,
      gno: 0,
      tokenType: 'access_token',
      aud: 'https://oauth.zoom.us',
      aid: 'fakeAccountId',
      iat: nowSeconds,
      exp: nowSeconds + lifetimeSeconds,
      jti: randomBytes(16).toString('hex'),
    };
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode(header)}.${encode(payload)}`;
    const signature = sign(unsigned);
    const token = `${unsigned}.${signature}`;
    const expiresAt = (nowSeconds + lifetimeSeconds) * 1000;
    if (accessTokens.size >= 10_000) {
      for (const [old, info] of accessTokens) if (info.expiresAt <= Date.now()) accessTokens.delete(old);
    }
    accessTokens.set(signature, { zoomUserId, expiresAt });
    return { token, expiresAt };
  }

  /** Replaces the user's grant's refresh token (killing the old one) and mints a new access token. */
  function issue(zoomUserId: string, lifetimeSeconds: number): ZoomTokenResponse {
    const previous = grants.get(zoomUserId);
    if (previous) userByRefreshToken.delete(previous.refreshToken);
    const refreshToken = randomBytes(96).toString('base64url');
    grants.set(zoomUserId, { refreshToken, revoked: false });
    userByRefreshToken.set(refreshToken, zoomUserId);
    const access = mintAccessToken(zoomUserId, lifetimeSeconds);
    persist();
    return {
      access_token: access.token,
      token_type: 'bearer',
      refresh_token: refreshToken,
      expires_in: lifetimeSeconds,
      scope: SCOPE,
      api_url: 'https://api.zoom.us',
    };
  }

  function clientAuthenticated(header: string | undefined): boolean {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!match) return false;
    const expected = Buffer.from(`${clientId}:${clientSecret}`);
    const given = Buffer.from(Buffer.from(match[1], 'base64').toString('utf8'));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.refreshCalls++;
    const held = holding;
    if (held) {
      held.waiting++;
      await held.released;
      held.waiting--;
    }
    const failure = failures.shift();
    if (failure === 'hang') return; // never answered; close() destroys the socket
    if (failure) {
      const headers: Record<string, string> = {};
      if (failure.status === 429) headers['retry-after'] = String(failure.retryAfterSeconds ?? 1);
      const body =
        failure.status === 429
          ? { code: 429, message: "You have reached the maximum per-second rate limit for this API. Try again later." }
          : { reason: 'Internal Error', error: 'server_error' };
      return sendJson(res, failure.status, body, headers);
    }

    const body = await readBody(req);
    if (!clientAuthenticated(req.headers.authorization)) {
      return sendJson(res, 401, { reason: 'Invalid client_id or client_secret', error: 'invalid_client' });
    }
    const form = new URLSearchParams(body);
    const grantType = form.get('grant_type');
    const refreshToken = form.get('refresh_token');
    if (!grantType) return sendJson(res, 400, { reason: 'Missing grant type', error: 'invalid_request' });
    if (grantType !== 'refresh_token') {
      return sendJson(res, 400, { reason: 'Unsupported grant type', error: 'unsupported_grant_type' });
    }
    if (!refreshToken) return sendJson(res, 400, { reason: 'Missing refresh token', error: 'invalid_request' });

    const zoomUserId = userByRefreshToken.get(refreshToken);
    const grant = zoomUserId === undefined ? undefined : grants.get(zoomUserId);
    if (zoomUserId === undefined || !grant) {
      counters.invalidGrant++;
      return sendJson(res, 400, { reason: 'Invalid Token!', error: 'invalid_grant' });
    }
    if (grant.revoked) {
      counters.invalidGrant++;
      return sendJson(res, 400, { reason: 'Token has been revoked', error: 'invalid_grant' });
    }
    counters.refreshOk++;
    sendJson(res, 200, issue(zoomUserId, ttlSeconds), { 'cache-control': 'no-store' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-zoom');
    if (url.pathname === '/oauth/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { reason: 'Method not allowed', error: 'invalid_request' });
      return handleToken(req, res);
    }
    if (url.pathname === '/fake/authorize' && req.method === 'POST') {
      const zoomUserId = url.searchParams.get('zoom_user_id');
      if (!zoomUserId) return sendJson(res, 400, { error: 'zoom_user_id query parameter is required' });
      const expiresIn = Number(url.searchParams.get('expires_in') ?? ttlSeconds);
      if (!Number.isInteger(expiresIn) || expiresIn <= 0) {
        return sendJson(res, 400, { error: 'expires_in must be a positive integer' });
      }
      return sendJson(res, 200, issue(zoomUserId, expiresIn));
    }
    sendJson(res, 404, { reason: 'Not found', error: 'not_found' });
  }

  const server = await listen(handle, options.host ?? '127.0.0.1', options.port ?? 0);

  return {
    url: server.url,
    tokenUrl: `${server.url}/oauth/token`,
    authorize: (zoomUserId, authorizeOptions) => issue(zoomUserId, authorizeOptions?.expiresInSeconds ?? ttlSeconds),
    verifyAccessToken(token) {
      if (typeof token !== 'string') return undefined;
      const parts = token.split('.');
      if (parts.length !== 3) return undefined;
      const info = accessTokens.get(parts[2]);
      if (!info || info.expiresAt <= Date.now()) return undefined;
      // Known signature: the token is the minted one only if header and payload are untouched.
      return sign(`${parts[0]}.${parts[1]}`) === parts[2] ? { ...info } : undefined;
    },
    revoke(zoomUserId) {
      const grant = grants.get(zoomUserId);
      let changed = false;
      if (grant && !grant.revoked) {
        grant.revoked = true;
        changed = true;
      }
      for (const [signature, info] of accessTokens) {
        if (info.zoomUserId === zoomUserId) {
          accessTokens.delete(signature);
          changed = true;
        }
      }
      if (changed) persist();
    },
    failNext(count, how) {
      for (let i = 0; i < count; i++) failures.push(how);
    },
    hold() {
      let release!: () => void;
      const held = { released: new Promise<void>((resolve) => (release = resolve)), waiting: 0 };
      holding = held;
      return {
        release: () => {
          if (holding === held) holding = undefined;
          release();
        },
        waiting: () => held.waiting,
      };
    },
    setAccessTokenTtl(seconds) {
      ttlSeconds = seconds;
    },
    stats: () => ({ ...counters }),
    currentRefreshToken(zoomUserId) {
      const grant = grants.get(zoomUserId);
      return grant && !grant.revoked ? grant.refreshToken : undefined;
    },
    close: () => server.close(),
  };
}
