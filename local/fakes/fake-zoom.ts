/**
 * A fake of Zoom's OAuth token endpoint (refresh grant only) and of the REST API routes that
 * mint bot tokens (./fake-zoom-api.ts), on loopback, with node:http.
 *
 * Follows Zoom's documented behaviour (see /work/shared/reference/recall-and-zoom.md):
 * - `POST /oauth/token`, `Authorization: Basic base64(client_id:client_secret)`, form body
 *   `grant_type=refresh_token&refresh_token=...` (token values are read from the body only).
 * - Refresh tokens are single-use: each refresh returns a new access AND refresh token and the old
 *   refresh token is dead at once. Old access tokens stay valid until they expire (they are JWTs).
 * - Errors: 401 invalid_client, 400 invalid_request / unsupported_grant_type / invalid_grant.
 *
 * Fake-only routes (demo use only): `POST /fake/authorize?zoom_user_id=X[&expires_in=S][&scope=…]`
 * mints a fresh grant for X with those scopes (as if the user had completed the OAuth flow) and
 * answers Zoom's token JSON; `POST /fake/meetings?host_zoom_user_id=X` creates a meeting hosted
 * by X and answers `{"id": <meeting number>}`.
 *
 * Fault injection (for the chaos harness, test/chaos): `inject()` queues failure plans, globally or per
 * Zoom user, each consumed by one request. The `spend_*` modes rotate the grant first (the refresh token is
 * spent) and then lose the answer; `missing_expires_in` / `nonnumeric_expires_in` rotate and answer a
 * malformed success body; `dead_body` kills the grant and answers (now and for every later refresh of that
 * grant) one of Zoom's dead-grant bodies. `grantState()` and `issuances()` are the ground truth: the single
 * live refresh token of each grant, and which answers were delivered.
 *
 * Optional `clock`: what "now" is for access-token expiry (default Date.now), so a test can move time.
 *
 * Optional `stateFile`: the signing secret, grants and live access tokens are loaded from it at start
 * and rewritten (atomically, mode 0600) after every change, so the fake survives a restart of the
 * local runtime. Counters, injected failures and the TTL setting stay in memory.
 *
 * Never logs tokens or secrets (it logs nothing at all).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FakeZoomApi, ZoomApiRoutes, ZoomMeetings } from './fake-zoom-api';
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
  /** "Now" in ms for minting and verifying access tokens. Default Date.now. */
  clock?: () => number;
  /** How long every token request takes to answer, as a real Zoom's round trip (benchmarks). Default 0. */
  latencyMs?: number;
  /** How long every REST API request (bot tokens) takes to answer (benchmarks). Default 0. */
  apiLatencyMs?: number;
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

/** The dead-grant bodies Zoom is known (or reported) to answer; see the reference notes. */
export type DeadGrantVariant =
  /** 400 {"error":"invalid_grant"} */
  | 'invalid_grant'
  /** 400 {"reason":"Invalid Token!","error":"invalid_grant"} */
  | 'invalid_grant_invalid_token'
  /** 400 {"error":"invalid_request","reason":"Invalid Token!"} */
  | 'invalid_request_invalid_token'
  /** 401 {"code":4741,"message":"Token has been revoked."} (status and wording are a guess) */
  | 'code_4741'
  /** 400 {"code":4735,"message":"Token owner does not exist."} (status and wording are a guess) */
  | 'code_4735';

export const DEAD_GRANT_VARIANTS: readonly DeadGrantVariant[] = [
  'invalid_grant',
  'invalid_grant_invalid_token',
  'invalid_request_invalid_token',
  'code_4741',
  'code_4735',
];

/** One injected failure of POST /oauth/token. */
export type ZoomInjection =
  /** Spends the refresh token (the grant rotates), then never answers (until close). */
  | { mode: 'spend_then_hang' }
  /** Spends the refresh token, answers after `delayMs` (if the client is still there). */
  | { mode: 'spend_then_delay'; delayMs: number }
  /** Spends the refresh token, then closes the socket without an answer. */
  | { mode: 'spend_then_drop' }
  /** Answers a 5xx JSON error; nothing is spent. */
  | { mode: 'http_5xx'; status?: 500 | 502 | 503 | 504 }
  /** Answers 429 (with Retry-After seconds when given); nothing is spent. */
  | { mode: 'http_429'; retryAfter?: number }
  /** Spends the refresh token and answers 200 with a body lacking expires_in. */
  | { mode: 'missing_expires_in' }
  /** Spends the refresh token and answers 200 with expires_in "soon". */
  | { mode: 'nonnumeric_expires_in' }
  /** Kills the grant and answers this dead-grant body (and keeps answering it for the grant). */
  | { mode: 'dead_body'; variant: DeadGrantVariant };

/** A refresh token Zoom issued, and what became of the answer carrying it. */
export interface Issuance {
  seq: number;
  zoomUserId: string;
  source: 'authorize' | 'refresh';
  /** The refresh token this refresh spent. */
  spent?: string;
  issued: string;
  /**
   * `sent`: the answer was written to an open connection. `dropped`: Zoom never answered (hang, drop).
   * `client_gone`: the client had closed the connection before the (late) answer. `pending`: not yet.
   */
  delivery: 'sent' | 'dropped' | 'client_gone' | 'pending';
  /** The injected mode that shaped this answer, if any. */
  mode?: ZoomInjection['mode'];
}

export interface FakeZoom extends FakeZoomApi {
  url: string;
  tokenUrl: string;
  /** Base of the REST API (`${url}/v2`), as ZOOM_API_BASE_URL. */
  apiBaseUrl: string;
  /** Simulates a user completing Zoom's OAuth flow: mints a fresh grant (of `scope`, default DEFAULT_FAKE_ZOOM_SCOPE). Returns Zoom's token response body. */
  authorize(zoomUserId: string, options?: { expiresInSeconds?: number; scope?: string }): ZoomTokenResponse;
  /** Introspection used by fake Recall and by tests: undefined if unknown, expired or revoked. */
  verifyAccessToken(token: string): AccessTokenInfo | undefined;
  /** The user's access tokens expire now, as time passing would; the grant stays alive (its refresh token works). */
  expireAccessTokens(zoomUserId: string): void;
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
  /**
   * Queues an injected failure: for the next request of `zoomUserId` (its refresh token, live or dead, maps
   * to that user), or for the next request whatever it is when no user is named. `count` plans (default 1).
   */
  inject(injection: ZoomInjection, target?: { zoomUserId?: string; count?: number }): void;
  /** Drops every queued injection (the per-user dead bodies of killed grants stay). */
  clearInjections(): void;
  /** Ground truth: whether the user's grant is alive, and its single live refresh token. */
  grantState(zoomUserId: string): { alive: boolean; liveRefreshToken?: string };
  /** Ground truth: the Zoom user an access or refresh token was issued to, expired, spent or revoked alike (undefined: not ours). */
  tokenOwner(token: string): string | undefined;
  /** Every refresh token issued since start, oldest first. */
  issuances(): Issuance[];
  close(): Promise<void>;
}

export const DEFAULT_FAKE_ZOOM_CLIENT_ID = 'fakeZoomClientId';
export const DEFAULT_FAKE_ZOOM_CLIENT_SECRET = 'fakeZoomClientSecret';
/** What a grant is for unless told: every scope the vault's bot tokens need, and reading the user. */
export const DEFAULT_FAKE_ZOOM_SCOPE = 'user:read:user user:read:token user:read:zak meeting:read:local_recording_token';

interface Grant {
  refreshToken: string;
  revoked: boolean;
  /** The scopes the user granted (space-separated); every access token of the grant carries them. */
  scope: string;
  /** Set when the grant was killed by an injected dead body: what every later refresh answers. */
  deadBody?: DeadGrantVariant;
}

function deadGrantAnswer(variant: DeadGrantVariant): { status: number; body: Record<string, unknown> } {
  switch (variant) {
    case 'invalid_grant':
      return { status: 400, body: { error: 'invalid_grant' } };
    case 'invalid_grant_invalid_token':
      return { status: 400, body: { reason: 'Invalid Token!', error: 'invalid_grant' } };
    case 'invalid_request_invalid_token':
      return { status: 400, body: { error: 'invalid_request', reason: 'Invalid Token!' } };
    case 'code_4741':
      return { status: 401, body: { code: 4741, message: 'Token has been revoked.' } };
    case 'code_4735':
      return { status: 400, body: { code: 4735, message: 'Token owner does not exist.' } };
  }
}

export interface AccessTokenInfo {
  zoomUserId: string;
  expiresAt: number;
  scope: string;
}

/** What `stateFile` holds. Access tokens are kept by their JWT signature (the HMAC binds it to the rest). */
interface FakeZoomState {
  version: 1;
  signingSecret: string; // base64url
  /** `scope` absent in files written before scopes were kept: DEFAULT_FAKE_ZOOM_SCOPE. */
  grants: Array<{ zoomUserId: string; refreshToken: string; revoked: boolean; scope?: string }>;
  accessTokens: Array<{ signature: string; zoomUserId: string; expiresAt: number; scope?: string }>;
  /** Meeting number → host's Zoom user id (absent in older files). */
  meetings?: Record<string, string>;
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
  const grants = new ZoomGrants(clientId, options);
  const faults = new ZoomFaults();
  const routes = new ZoomTokenRoutes({ clientId, clientSecret, latencyMs: options.latencyMs }, grants, faults);
  const api = new ZoomApiRoutes(
    { verifyAccessToken: (token) => grants.verifyAccessToken(token), latencyMs: options.apiLatencyMs },
    grants.meetings,
  );
  const server = await listen(
    (req, res) => (api.handles(req) ? api.handle(req, res) : routes.handle(req, res)),
    options.host ?? '127.0.0.1',
    options.port ?? 0,
  );

  return {
    url: server.url,
    tokenUrl: `${server.url}/oauth/token`,
    apiBaseUrl: `${server.url}/v2`,
    authorize: (zoomUserId, authorizeOptions) =>
      grants.issue(zoomUserId, authorizeOptions?.expiresInSeconds ?? grants.ttlSeconds, { source: 'authorize' }, authorizeOptions?.scope),
    verifyAccessToken: (token) => grants.verifyAccessToken(token),
    expireAccessTokens: (zoomUserId) => grants.expireAccessTokens(zoomUserId),
    ...api.controls(),
    revoke: (zoomUserId) => grants.revoke(zoomUserId),
    failNext: (count, how) => faults.failNext(count, how),
    hold: () => faults.hold(),
    setAccessTokenTtl: (seconds) => {
      grants.ttlSeconds = seconds;
    },
    stats: () => ({ ...routes.counters }),
    currentRefreshToken: (zoomUserId) => grants.currentRefreshToken(zoomUserId),
    inject: (injection, target) => faults.inject(injection, target),
    clearInjections: () => faults.clearInjections(),
    grantState: (zoomUserId) => grants.grantState(zoomUserId),
    tokenOwner: (token) => grants.tokenOwner(token),
    issuances: () => grants.issuances(),
    close: () => {
      grants.flush();
      return server.close();
    },
  };
}

type IssuanceOrigin = { source: 'authorize' | 'refresh'; spent?: string; mode?: ZoomInjection['mode'] };

/**
 * The grants, their access tokens and every refresh token issued (the ground truth the chaos
 * harness checks against); the grants and live access tokens are rewritten to `stateFile` (when
 * configured) shortly after every change.
 */
class ZoomGrants {
  /** Lifetime of the access tokens refreshes (and authorize, unless told) mint; setAccessTokenTtl changes it. */
  ttlSeconds: number;
  private readonly now: () => number;
  private readonly stateFile: string | undefined;
  private readonly signingSecret: Buffer;
  private readonly grants = new Map<string, Grant>(); // by zoom user id
  private readonly userByRefreshToken = new Map<string, string>(); // current refresh tokens only
  /** Every refresh token ever current, to the user it belonged to: a spent one still names its user. */
  private readonly userByAnyRefreshToken = new Map<string, string>();
  private readonly accessTokens = new Map<string, AccessTokenInfo>(); // by JWT signature
  /** The meetings the API routes know (persisted with the grants). */
  readonly meetings: ZoomMeetings;
  /** Every access token minted, by JWT signature, to its user: never pruned (in memory only). */
  private readonly accessTokenOwners = new Map<string, string>();
  private readonly issued: Issuance[] = [];
  private readonly issuanceByToken = new Map<string, Issuance>();
  private pendingWrite: NodeJS.Timeout | undefined;

  constructor(
    private readonly clientId: string,
    options: FakeZoomOptions,
  ) {
    this.ttlSeconds = options.accessTokenTtlSeconds ?? 3600;
    this.now = options.clock ?? Date.now;
    this.stateFile = options.stateFile;
    const saved = this.stateFile === undefined ? undefined : loadState(this.stateFile);
    this.signingSecret = saved ? Buffer.from(saved.signingSecret, 'base64url') : randomBytes(32);
    this.meetings = new ZoomMeetings(saved?.meetings, () => this.persist());
    for (const { zoomUserId, refreshToken, revoked, scope } of saved?.grants ?? []) {
      this.grants.set(zoomUserId, { refreshToken, revoked, scope: scope ?? DEFAULT_FAKE_ZOOM_SCOPE });
      this.userByRefreshToken.set(refreshToken, zoomUserId);
      this.userByAnyRefreshToken.set(refreshToken, zoomUserId);
    }
    for (const { signature, zoomUserId, expiresAt, scope } of saved?.accessTokens ?? []) {
      if (expiresAt > this.now()) this.accessTokens.set(signature, { zoomUserId, expiresAt, scope: scope ?? DEFAULT_FAKE_ZOOM_SCOPE });
    }
  }

  grant(zoomUserId: string): Grant | undefined {
    return this.grants.get(zoomUserId);
  }

  /** The user whose grant's live refresh token this is. */
  userOfLiveToken(refreshToken: string): string | undefined {
    return this.userByRefreshToken.get(refreshToken);
  }

  /** The user this refresh token was issued to, live or spent. */
  userOfAnyToken(refreshToken: string): string | undefined {
    return this.userByAnyRefreshToken.get(refreshToken);
  }

  issuanceOf(refreshToken: string): Issuance | undefined {
    return this.issuanceByToken.get(refreshToken);
  }

  /**
   * Replaces the user's grant's refresh token (killing the old one) and mints a new access token.
   * `scope`: a new grant's (authorize); a refresh keeps the grant's.
   */
  issue(
    zoomUserId: string,
    lifetimeSeconds: number,
    origin: IssuanceOrigin = { source: 'authorize' },
    scope = this.grants.get(zoomUserId)?.scope ?? DEFAULT_FAKE_ZOOM_SCOPE,
  ): ZoomTokenResponse {
    const previous = this.grants.get(zoomUserId);
    if (previous) this.userByRefreshToken.delete(previous.refreshToken);
    const refreshToken = randomBytes(96).toString('base64url');
    this.grants.set(zoomUserId, { refreshToken, revoked: false, scope });
    this.userByRefreshToken.set(refreshToken, zoomUserId);
    this.userByAnyRefreshToken.set(refreshToken, zoomUserId);
    const issuance: Issuance = {
      seq: this.issued.length + 1,
      zoomUserId,
      ...origin,
      issued: refreshToken,
      delivery: origin.source === 'authorize' ? 'sent' : 'pending',
    };
    this.issued.push(issuance);
    this.issuanceByToken.set(refreshToken, issuance);
    const access = this.mintAccessToken(zoomUserId, lifetimeSeconds, scope);
    this.persist();
    return {
      access_token: access.token,
      token_type: 'bearer',
      refresh_token: refreshToken,
      expires_in: lifetimeSeconds,
      scope,
      api_url: 'https://api.zoom.us',
    };
  }

  /** An injected dead body kills the grant: its refresh token and access tokens stop working, and it answers that body from now on. */
  kill(zoomUserId: string, grant: Grant, variant: DeadGrantVariant): void {
    grant.revoked = true;
    grant.deadBody = variant;
    this.userByRefreshToken.delete(grant.refreshToken);
    for (const [signature, info] of this.accessTokens) if (info.zoomUserId === zoomUserId) this.accessTokens.delete(signature);
    this.persist();
  }

  revoke(zoomUserId: string): void {
    const grant = this.grants.get(zoomUserId);
    let changed = false;
    if (grant && !grant.revoked) {
      grant.revoked = true;
      changed = true;
    }
    for (const [signature, info] of this.accessTokens) {
      if (info.zoomUserId === zoomUserId) {
        this.accessTokens.delete(signature);
        changed = true;
      }
    }
    if (changed) this.persist();
  }

  /** The user's access tokens stop verifying, as at their expiry; the grant is untouched. */
  expireAccessTokens(zoomUserId: string): void {
    for (const [signature, info] of this.accessTokens) if (info.zoomUserId === zoomUserId) this.accessTokens.delete(signature);
    this.persist();
  }

  verifyAccessToken(token: string): AccessTokenInfo | undefined {
    if (typeof token !== 'string') return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const info = this.accessTokens.get(parts[2]);
    if (!info || info.expiresAt <= this.now()) return undefined;
    // Known signature: the token is the minted one only if header and payload are untouched.
    return this.sign(`${parts[0]}.${parts[1]}`) === parts[2] ? { ...info } : undefined;
  }

  currentRefreshToken(zoomUserId: string): string | undefined {
    const grant = this.grants.get(zoomUserId);
    return grant && !grant.revoked ? grant.refreshToken : undefined;
  }

  grantState(zoomUserId: string): { alive: boolean; liveRefreshToken?: string } {
    const grant = this.grants.get(zoomUserId);
    if (!grant || grant.revoked) return { alive: false };
    return { alive: true, liveRefreshToken: grant.refreshToken };
  }

  tokenOwner(token: string): string | undefined {
    const refreshTokenOwner = this.userByAnyRefreshToken.get(token);
    if (refreshTokenOwner !== undefined) return refreshTokenOwner;
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3 || this.sign(`${parts[0]}.${parts[1]}`) !== parts[2]) return undefined;
    return this.accessTokenOwners.get(parts[2]);
  }

  issuances(): Issuance[] {
    return this.issued.map((issuance) => ({ ...issuance }));
  }

  /** Writes a pending change now (at close). */
  flush(): void {
    if (this.pendingWrite) this.writeNow();
  }

  private mintAccessToken(zoomUserId: string, lifetimeSeconds: number, scope: string): { token: string; expiresAt: number } {
    const nowSeconds = Math.floor(this.now() / 1000);
    const header = { alg: 'HS256', v: '2.0', kid: randomBytes(12).toString('base64url') };
    const payload = {
      ver: 9,
      auid: randomBytes(24).toString('hex'),
      uid: zoomUserId,
      nbf: nowSeconds,
      code: randomBytes(24).toString('base64url'),
      iss: `zm:cid:${this.clientId}`,
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
    const signature = this.sign(unsigned);
    const token = `${unsigned}.${signature}`;
    const expiresAt = (nowSeconds + lifetimeSeconds) * 1000;
    if (this.accessTokens.size >= 10_000) {
      for (const [old, info] of this.accessTokens) if (info.expiresAt <= this.now()) this.accessTokens.delete(old);
    }
    this.accessTokens.set(signature, { zoomUserId, expiresAt, scope });
    this.accessTokenOwners.set(signature, zoomUserId);
    return { token, expiresAt };
  }

  private sign(unsigned: string): string {
    return createHmac('sha256', this.signingSecret).update(unsigned).digest('base64url');
  }

  /**
   * Schedules a rewrite of the state file (when configured) after a change: changes within a
   * moment are written together (a thousand refreshes a second would otherwise each rewrite the
   * whole file), and close() writes what is pending.
   */
  private persist(): void {
    if (this.stateFile === undefined || this.pendingWrite) return;
    this.pendingWrite = setTimeout(() => this.writeNow(), 50);
  }

  /** Rewrites the state file now; expired access tokens are left out. */
  private writeNow(): void {
    clearTimeout(this.pendingWrite);
    this.pendingWrite = undefined;
    if (this.stateFile === undefined) return;
    const at = this.now();
    const state: FakeZoomState = {
      version: 1,
      signingSecret: this.signingSecret.toString('base64url'),
      grants: [...this.grants].map(([zoomUserId, { refreshToken, revoked, scope }]) => ({ zoomUserId, refreshToken, revoked, scope })),
      accessTokens: [...this.accessTokens].filter(([, info]) => info.expiresAt > at).map(([signature, info]) => ({ signature, ...info })),
      meetings: this.meetings.saved(),
    };
    writeStateFile(this.stateFile, state);
  }
}

/** The injected faults: failNext's failures, inject's plans (global and per user), and hold(). */
class ZoomFaults {
  private readonly failures: ZoomFailure[] = [];
  private readonly injected: ZoomInjection[] = [];
  private readonly injectedByUser = new Map<string, ZoomInjection[]>();
  private holding: { released: Promise<void>; waiting: number } | undefined;

  failNext(count: number, how: ZoomFailure): void {
    for (let i = 0; i < count; i++) this.failures.push(how);
  }

  /** The next failNext failure, if any is queued. */
  nextFailure(): ZoomFailure | undefined {
    return this.failures.shift();
  }

  inject(injection: ZoomInjection, target: { zoomUserId?: string; count?: number } = {}): void {
    const queue = target.zoomUserId === undefined ? this.injected : (this.injectedByUser.get(target.zoomUserId) ?? []);
    if (target.zoomUserId !== undefined) this.injectedByUser.set(target.zoomUserId, queue);
    for (let i = 0; i < (target.count ?? 1); i++) queue.push(injection);
  }

  /** A plan queued for this user (the owner of the refresh token), else a global one. */
  nextPlan(owner: string | undefined): ZoomInjection | undefined {
    return (owner !== undefined ? this.injectedByUser.get(owner)?.shift() : undefined) ?? this.injected.shift();
  }

  clearInjections(): void {
    this.injected.length = 0;
    this.injectedByUser.clear();
  }

  hold(): { release(): void; waiting(): number } {
    let release!: () => void;
    const held = { released: new Promise<void>((resolve) => (release = resolve)), waiting: 0 };
    this.holding = held;
    return {
      release: () => {
        if (this.holding === held) this.holding = undefined;
        release();
      },
      waiting: () => held.waiting,
    };
  }

  /** The hold() in force, if any: requests arriving now wait for its release. */
  currentHold(): { released: Promise<void>; waiting: number } | undefined {
    return this.holding;
  }
}

const RATE_LIMITED_BODY = { code: 429, message: 'You have reached the maximum per-second rate limit for this API. Try again later.' };
const SERVER_ERROR_BODY = { reason: 'Internal Error', error: 'server_error' };

/** The HTTP routes: the token endpoint (with the injected faults applied) and the fake's authorize. */
class ZoomTokenRoutes {
  /** refreshCalls counts every POST /oauth/token received, injected failures included. */
  readonly counters = { refreshCalls: 0, refreshOk: 0, invalidGrant: 0 };

  constructor(
    private readonly client: { clientId: string; clientSecret: string; latencyMs?: number },
    private readonly grants: ZoomGrants,
    private readonly faults: ZoomFaults,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-zoom');
    if (url.pathname === '/oauth/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { reason: 'Method not allowed', error: 'invalid_request' });
      return this.handleToken(req, res);
    }
    if (url.pathname === '/fake/authorize' && req.method === 'POST') {
      const zoomUserId = url.searchParams.get('zoom_user_id');
      if (!zoomUserId) return sendJson(res, 400, { error: 'zoom_user_id query parameter is required' });
      const expiresIn = Number(url.searchParams.get('expires_in') ?? this.grants.ttlSeconds);
      if (!Number.isInteger(expiresIn) || expiresIn <= 0) {
        return sendJson(res, 400, { error: 'expires_in must be a positive integer' });
      }
      const scope = url.searchParams.get('scope')?.trim() || DEFAULT_FAKE_ZOOM_SCOPE;
      return sendJson(res, 200, this.grants.issue(zoomUserId, expiresIn, { source: 'authorize' }, scope));
    }
    if (url.pathname === '/fake/meetings' && req.method === 'POST') {
      const host = url.searchParams.get('host_zoom_user_id');
      if (!host) return sendJson(res, 400, { error: 'host_zoom_user_id query parameter is required' });
      return sendJson(res, 201, { id: Number(this.grants.meetings.create(host)) });
    }
    sendJson(res, 404, { reason: 'Not found', error: 'not_found' });
  }

  /** POST /oauth/token: failNext failures first, then the request's checks, the injected plan, the grant's checks, the refresh. */
  private async handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.refreshCalls++;
    if (this.client.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.client.latencyMs));
    const held = this.faults.currentHold();
    if (held) {
      held.waiting++;
      await held.released;
      held.waiting--;
    }
    const failure = this.faults.nextFailure();
    if (failure === 'hang') return; // never answered; close() destroys the socket
    if (failure) return sendFailure(res, failure);

    const refreshToken = await this.readRefreshToken(req, res);
    if (refreshToken === undefined) return;
    // An injected plan for this user (its refresh token, live or spent, names it), else a global one.
    const owner = this.grants.userOfAnyToken(refreshToken);
    const plan = this.faults.nextPlan(owner);
    if (plan?.mode === 'http_5xx') return sendJson(res, plan.status ?? 503, SERVER_ERROR_BODY);
    if (plan?.mode === 'http_429') {
      const headers: Record<string, string> = plan.retryAfter === undefined ? {} : { 'retry-after': String(plan.retryAfter) };
      return sendJson(res, 429, RATE_LIMITED_BODY, headers);
    }
    const zoomUserId = this.refuseUnusableGrant(res, refreshToken, owner, plan);
    if (zoomUserId === undefined) return;
    return this.refresh(req, res, zoomUserId, refreshToken, plan);
  }

  /** The refresh token of a well-formed refresh request from the app; undefined when it answered an error instead. */
  private async readRefreshToken(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    const body = await readBody(req);
    if (!this.clientAuthenticated(req.headers.authorization)) {
      sendJson(res, 401, { reason: 'Invalid client_id or client_secret', error: 'invalid_client' });
      return undefined;
    }
    const form = new URLSearchParams(body);
    const grantType = form.get('grant_type');
    const refreshToken = form.get('refresh_token');
    if (!grantType) sendJson(res, 400, { reason: 'Missing grant type', error: 'invalid_request' });
    else if (grantType !== 'refresh_token') sendJson(res, 400, { reason: 'Unsupported grant type', error: 'unsupported_grant_type' });
    else if (!refreshToken) sendJson(res, 400, { reason: 'Missing refresh token', error: 'invalid_request' });
    else return refreshToken;
    return undefined;
  }

  private clientAuthenticated(header: string | undefined): boolean {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!match) return false;
    const expected = Buffer.from(`${this.client.clientId}:${this.client.clientSecret}`);
    const given = Buffer.from(Buffer.from(match[1], 'base64').toString('utf8'));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /**
   * The user whose live grant this refresh token is; otherwise answers the dead-grant error (an
   * injected dead_body plan kills the grant here) and returns undefined.
   */
  private refuseUnusableGrant(
    res: ServerResponse,
    refreshToken: string,
    owner: string | undefined,
    plan: ZoomInjection | undefined,
  ): string | undefined {
    const zoomUserId = this.grants.userOfLiveToken(refreshToken);
    const grant = zoomUserId === undefined ? undefined : this.grants.grant(zoomUserId);
    const ownerGrant = owner === undefined ? undefined : this.grants.grant(owner);
    let refusal: { status: number; body: Record<string, unknown> } | undefined;
    if (ownerGrant?.deadBody) {
      // A grant killed by an injected dead body answers that body to any of its tokens.
      refusal = deadGrantAnswer(ownerGrant.deadBody);
    } else if (zoomUserId === undefined || !grant) {
      refusal = { status: 400, body: { reason: 'Invalid Token!', error: 'invalid_grant' } };
    } else if (grant.revoked) {
      refusal = { status: 400, body: { reason: 'Token has been revoked', error: 'invalid_grant' } };
    } else if (plan?.mode === 'dead_body') {
      this.grants.kill(zoomUserId, grant, plan.variant);
      refusal = deadGrantAnswer(plan.variant);
    }
    if (!refusal) return zoomUserId;
    this.counters.invalidGrant++;
    sendJson(res, refusal.status, refusal.body);
    return undefined;
  }

  /** Rotates the grant and answers, unless an injected plan loses, delays or malforms the answer. */
  private async refresh(
    req: IncomingMessage,
    res: ServerResponse,
    zoomUserId: string,
    refreshToken: string,
    plan: ZoomInjection | undefined,
  ): Promise<void> {
    this.counters.refreshOk++;
    const origin: IssuanceOrigin = { source: 'refresh', spent: refreshToken, ...(plan ? { mode: plan.mode } : {}) };
    const answer = this.grants.issue(zoomUserId, this.grants.ttlSeconds, origin);
    const issuance = this.grants.issuanceOf(answer.refresh_token)!;
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    switch (plan?.mode) {
      case 'spend_then_hang':
        issuance.delivery = 'dropped';
        return; // never answered; close() destroys the socket
      case 'spend_then_drop':
        issuance.delivery = 'dropped';
        req.socket.destroy();
        return;
      case 'spend_then_delay':
        await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
        if (clientGone || res.destroyed) {
          issuance.delivery = 'client_gone';
          return;
        }
        break;
      case 'missing_expires_in': {
        const { expires_in: _expiresIn, ...rest } = answer;
        return deliver(res, issuance, rest);
      }
      case 'nonnumeric_expires_in':
        return deliver(res, issuance, { ...answer, expires_in: 'soon' });
      default:
        break;
    }
    deliver(res, issuance, answer);
  }
}

/** A failNext failure: 429 with Retry-After, or a 5xx. */
function sendFailure(res: ServerResponse, failure: Exclude<ZoomFailure, 'hang'>): void {
  const headers: Record<string, string> = {};
  if (failure.status === 429) headers['retry-after'] = String(failure.retryAfterSeconds ?? 1);
  sendJson(res, failure.status, failure.status === 429 ? RATE_LIMITED_BODY : SERVER_ERROR_BODY, headers);
}

/** Answers a successful refresh and notes whether the answer went out on an open connection. */
function deliver(res: ServerResponse, issuance: Issuance, body: object): void {
  res.once('finish', () => {
    if (issuance.delivery === 'pending') issuance.delivery = 'sent';
  });
  res.once('close', () => {
    if (issuance.delivery === 'pending') issuance.delivery = 'client_gone';
  });
  if (res.destroyed) {
    issuance.delivery = 'client_gone';
    return;
  }
  sendJson(res, 200, body, { 'cache-control': 'no-store' });
}
