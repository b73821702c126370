/**
 * Bot tokens (Zoom's 2026 rules): an OBF token, a ZAK or a local-recording join token, minted
 * at Zoom's REST API with the user's vaulted access token on every request. Bot tokens are
 * single-use: minted just in time, never cached, stored, logged or put in an event or error.
 *
 * - Which kinds a grant can mint: its scopes, when Zoom's token response named them.
 * - Freshness: a Zoom API call needs a live access token, not Recall's 120 s: the serve path with
 *   a small floor (TIMING.apiTokenMarginMs); below it, the refresh workers renew the token and
 *   the request waits for them within its budget. This path never calls Zoom's OAuth endpoint:
 *   only the workers spend refresh tokens.
 * - Zoom's answers classified: token, unavailable (404 to the bot), retry (503). A 401 for a
 *   token believed live hands the user to the workers and tries once more with the token they
 *   store; it never marks the grant dead by itself (the workers decide that, from Zoom's OAuth
 *   answer).
 */
import { BOT_TOKEN_KINDS, type BotTokenKind } from '../contract';
import { parseJsonObject } from './json';
import { MissingScopeError, NoBotTokenError, NotFoundError, ZoomApiUnavailableError } from './errors';
import type { Clock, SigningKeyProvider, TokenOpener, TokenReader, ZoomApiClient, ZoomMintResult } from './ports';
import { requireLiveGrant, type ServeDeps, serveAccessToken } from './serve-token';
import { signBotTokenUrl } from './signing';
import { TIMING } from './timing';
import { sealedTokensOf, type StoredUser } from './token-record';

export { BOT_TOKEN_KINDS, type BotTokenKind, MissingScopeError, NoBotTokenError, ZoomApiUnavailableError };

/**
 * The scopes that let a grant mint each kind, the one to ask for first: Zoom's granular scope,
 * its account-level (`:admin`) form, and the classic scopes Zoom documents for the same route.
 */
export const BOT_TOKEN_SCOPES: Readonly<Record<BotTokenKind, readonly string[]>> = {
  obf: ['user:read:token', 'user:read:token:admin', 'user:read', 'user:read:admin'],
  zak: ['user:read:zak', 'user:read:zak:admin', 'user_zak:read', 'user_zak:read:admin', 'user:read', 'user:read:admin'],
  join_token: [
    'meeting:read:local_recording_token',
    'meeting:read:local_recording_token:admin',
    'meeting_token:read:local_recording',
    'meeting_token:read:admin:local_recording',
  ],
};

/** The scopes Zoom's token response named (space-separated), or undefined when it named none. */
export function grantedScopes(scope: string | undefined): string[] | undefined {
  const scopes = (scope ?? '').split(/[\s,]+/).filter(Boolean);
  return scopes.length ? scopes : undefined;
}

/**
 * The scope a grant lacks for `kind`, to name in an answer; undefined when it holds one, or when
 * Zoom named no scopes (then only Zoom can tell, at the mint).
 */
export function missingScope(kind: BotTokenKind, scope: string | undefined): string | undefined {
  const granted = grantedScopes(scope);
  if (!granted) return undefined;
  return BOT_TOKEN_SCOPES[kind].some((accepted) => granted.includes(accepted)) ? undefined : BOT_TOKEN_SCOPES[kind][0];
}

/** The kinds a grant can mint: none for a dead or removed grant; by its scopes when Zoom named them, else every kind. */
export function mintableKinds(user: Pick<StoredUser, 'status'>, scope: string | undefined): BotTokenKind[] {
  if (user.status !== 'active') return [];
  return BOT_TOKEN_KINDS.filter((kind) => missingScope(kind, scope) === undefined);
}

// ---------------------------------------------------------------------------------------------
// Zoom's answers

/** What came back from one request to Zoom's API: an HTTP answer, or none. */
export type ZoomApiAnswer = { status: number; body: string; retryAfterMs?: number } | { failure: 'timeout' | 'network' };

/** Zoom's numbered errors for a token without the route's scope (4711; 4700 is reported too). */
const SCOPE_CODES = new Set([4711, 4700]);
const MEETING_NOT_FOUND = 3001;

/** A classification without the answer's own status, code and Retry-After (added to it). */
type Verdict =
  | { kind: 'retry'; cause: Extract<ZoomMintResult, { kind: 'retry' }>['cause'] }
  | { kind: 'unavailable'; reason: Extract<ZoomMintResult, { kind: 'unavailable' }>['reason'] };
type Row = { answer: string; when: (status: number, code: number | undefined) => boolean; result: Verdict };

/** Every HTTP answer of Zoom's API, classified; first matching row wins (docs/bot-tokens.md shows the same table). */
export const ZOOM_API_ANSWER_TABLE: readonly Row[] = [
  {
    answer: '401 (124: invalid or expired access token)',
    when: (s) => s === 401,
    result: { kind: 'retry', cause: 'access_token_rejected' },
  },
  { answer: '429', when: (s) => s === 429, result: { kind: 'retry', cause: 'throttled' } },
  { answer: '408 or 5xx', when: (s) => s === 408 || s >= 500, result: { kind: 'retry', cause: 'zoom_error' } },
  {
    answer: 'code 4711 or 4700 (scope missing)',
    when: (_s, c) => c !== undefined && SCOPE_CODES.has(c),
    result: { kind: 'unavailable', reason: 'scope_missing' },
  },
  {
    answer: 'code 3001 (meeting does not exist)',
    when: (_s, c) => c === MEETING_NOT_FOUND,
    result: { kind: 'unavailable', reason: 'meeting_not_found' },
  },
  { answer: 'any other 3xx or 4xx', when: (s) => s >= 300, result: { kind: 'unavailable', reason: 'zoom_refused' } },
];

/** Classifies one answer of Zoom's API. Keeps Zoom's status and numbered code, never its words. */
export function classifyZoomApiAnswer(answer: ZoomApiAnswer): ZoomMintResult {
  if ('failure' in answer) return { kind: 'retry', cause: answer.failure };
  const json = parseJsonObject(answer.body);
  const code = typeof json?.code === 'number' && Number.isInteger(json.code) ? json.code : undefined;
  if (answer.status >= 200 && answer.status < 300) {
    const token = json?.token;
    if (typeof token === 'string' && token.length > 0) return { kind: 'token', token };
    return { kind: 'retry', cause: 'invalid_answer', status: answer.status };
  }
  const row = ZOOM_API_ANSWER_TABLE.find((candidate) => candidate.when(answer.status, code));
  const verdict: Verdict = row?.result ?? { kind: 'unavailable', reason: 'zoom_refused' };
  const details = { status: answer.status, ...(code !== undefined ? { code } : {}) };
  if (verdict.kind === 'unavailable') return { ...verdict, ...details };
  return { ...verdict, ...details, ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}) };
}

/** Whether the API client tries again itself: transient failures only, never a rejected access token. */
export function retriedInPlace(result: ZoomMintResult): boolean {
  return result.kind === 'retry' && result.cause !== 'access_token_rejected';
}

// ---------------------------------------------------------------------------------------------
// Minting

export interface BotTokenDeps extends ServeDeps {
  zoomApi: ZoomApiClient;
}

/** What a verified bot-token URL asks for. */
export interface BotTokenRequest {
  kind: BotTokenKind;
  userId: string;
  /** The registration the URL was issued to: another one (deleted, registered again) is no user for it. */
  registrationId: string;
  meetingId: string;
}

/**
 * Mints one bot token for `request` by `deadline` (ms). Throws NotFoundError (no such user or
 * registration), TokenUnavailableError (a dead grant; no live token in time), NoBotTokenError,
 * ZoomApiUnavailableError.
 */
export async function mintBotToken(request: BotTokenRequest, deps: BotTokenDeps, options: { deadline: number }): Promise<string> {
  const { userId, registrationId, kind, meetingId } = request;
  // Zoom needs time to answer: the wait for a refreshed token ends that much before the deadline.
  const serving = { registrationId, floorMs: TIMING.apiTokenMarginMs, deadline: options.deadline - TIMING.zoomApiMinimumWaitMs };
  const served = await serveAccessToken(userId, deps, serving);
  const missing = missingScope(kind, served.scope);
  if (missing) throw new MissingScopeError(kind, missing);
  let result = await deps.zoomApi.mintBotToken(kind, meetingId, served.accessToken, options);
  if (result.kind === 'retry' && result.cause === 'access_token_rejected') {
    deps.logger.warn('Zoom rejected an access token before its expiry; asking the refresh workers for a new one', { userId });
    const renewed = await serveAccessToken(userId, deps, { ...serving, replacing: served });
    result = await deps.zoomApi.mintBotToken(kind, meetingId, renewed.accessToken, options);
  }
  if (result.kind === 'token') return result.token;
  if (result.kind === 'unavailable') throw new NoBotTokenError(result.reason, `Zoom will not mint this ${kind} token (${result.reason})`);
  throw new ZoomApiUnavailableError(result.cause, result.retryAfterMs);
}

// ---------------------------------------------------------------------------------------------
// Issuing URLs (admin API)

export interface BotTokenUrlDeps {
  store: TokenReader;
  cipher: TokenOpener;
  signingKeys: SigningKeyProvider;
  clock: Clock;
  /** Each kind's public route URL (no query). */
  routeUrls: Readonly<Record<BotTokenKind, string>>;
}

export interface BotTokenUrlRequest {
  meetingId: string;
  kinds: readonly BotTokenKind[];
  validForSeconds: number;
}

export interface IssuedBotTokenUrls {
  urls: Partial<Record<BotTokenKind, string>>;
  /** When the URLs stop working, ms since the epoch (whole seconds). */
  expiresAt: number;
}

/**
 * Signed URLs of `kinds` for one meeting, valid `validForSeconds`. Throws NotFoundError (no such
 * user), TokenUnavailableError (a dead or removed grant), MissingScopeError (for the first kind
 * whose scope Zoom's token response left out).
 */
export async function issueBotTokenUrls(userId: string, request: BotTokenUrlRequest, deps: BotTokenUrlDeps): Promise<IssuedBotTokenUrls> {
  const user = await readRegisteredUser(userId, deps.store);
  requireLiveGrant(user);
  const { scope } = await deps.cipher.open(user, sealedTokensOf(user));
  for (const kind of request.kinds) {
    const missing = missingScope(kind, scope);
    if (missing) throw new MissingScopeError(kind, missing);
  }
  const keyring = await deps.signingKeys.keyring();
  const expiresAtSeconds = Math.floor(deps.clock() / 1000) + request.validForSeconds;
  const subject = { userId, registrationId: user.registrationId, meetingId: request.meetingId, expiresAtSeconds };
  const urls: Partial<Record<BotTokenKind, string>> = {};
  for (const kind of request.kinds) urls[kind] = signBotTokenUrl(deps.routeUrls[kind], kind, subject, keyring).toString();
  return { urls, expiresAt: expiresAtSeconds * 1000 };
}

/** What a user's grant can mint, for the admin API's status: the kinds, and the scopes Zoom named (undefined: none). */
export async function botTokenCapabilities(user: StoredUser, cipher: TokenOpener): Promise<{ kinds: BotTokenKind[]; scopes?: string[] }> {
  if (user.status !== 'active') return { kinds: [] };
  const { scope } = await cipher.open(user, sealedTokensOf(user));
  const scopes = grantedScopes(scope);
  return { kinds: mintableKinds(user, scope), ...(scopes ? { scopes } : {}) };
}

async function readRegisteredUser(userId: string, store: TokenReader): Promise<StoredUser> {
  const user = await store.get(userId, { consistent: true });
  if (!user) throw new NotFoundError('unknown user');
  return user;
}
