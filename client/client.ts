/**
 * A client for the zoom-token-vault admin API (docs/admin-api.md): bearer token for the
 * local runtime, SigV4 (IAM) for the stack in AWS. Answers are the API's JSON; failures are the
 * typed errors of ./errors. No token ever enters an error message or a log line from here.
 */
import { errorFromResponse, NetworkError, NotFoundError, VaultError, type ErrorBody } from './errors.js';
import { sigV4Signer, type Credentials, type RequestSigner } from './sigv4.js';

/** A user's state, as the API names them (a test keeps this list equal to the service's own). */
export type UserStatusName = 'active' | 'reauth_required' | 'deauthorized' | 'recall_pending' | 'recall_failed' | 'recall_unhealthy';
/** Every state, in the order `listAll()` without a status goes through them. */
export const USER_STATUS_NAMES: readonly UserStatusName[] = [
  'active',
  'reauth_required',
  'deauthorized',
  'recall_pending',
  'recall_failed',
  'recall_unhealthy',
];

export interface Note {
  at: string | null;
  code: string;
  message: string;
}

/** A user's state as the API shows it (never a token). */
export interface UserStatus {
  user_id: string;
  status: UserStatusName | string;
  token_status: string;
  access_token_expires_at: string | null;
  recall_status: string;
  recall_credential_id: string | null;
  recall_last_error: Note | null;
  last_refresh_at: string | null;
  last_error: Note | null;
  reauth_required: Note | null;
  created_at: string | null;
  updated_at: string | null;
}

/** A kind of bot token (Zoom's 2026 rules): `obf`, `zak`, or a local-recording `join_token`. */
export type BotTokenKind = 'obf' | 'zak' | 'join_token';

/** A user's state and what the user's grant can mint (`GET …/zoom-credential`). Never a token. */
export interface UserDetail extends UserStatus {
  /** The bot tokens the grant can mint (by its scopes when Zoom named them). */
  bot_token_kinds: BotTokenKind[];
  /** The scopes Zoom's token response named; null when it named none. */
  zoom_scopes: string[] | null;
}

/** Signed bot-token URLs for one meeting: `zoom` goes as it is into Recall's Create Bot request. */
export interface BotTokenUrls {
  zoom: { obf_token_url?: string; zak_url?: string; join_token_url?: string };
  expiresAt: string;
}

/** Zoom's token response as your backend received it from Zoom; pass it whole (the API ignores fields it does not know). */
export interface ZoomTokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in?: number;
  expires_at?: string;
  scope?: string;
  token_type?: string;
}

export interface AccessToken {
  accessToken: string;
  expiresAt: string;
}

export interface UserPage {
  users: UserStatus[];
  nextCursor: string | null;
}

export type Auth = { kind: 'bearer'; token: string } | { kind: 'sigv4'; region: string; credentials?: Credentials };

export interface RetryOptions {
  /** Retries after the first attempt (0: none). Default 3. */
  retries?: number;
  /** Backoff: full jitter over min(maxDelayMs, baseDelayMs · 2^attempt). Defaults 200 ms and 5 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the error is thrown. Default 30 s. */
  maxRetryAfterMs?: number;
}

export interface ClientOptions {
  /** The API's base URL, e.g. http://127.0.0.1:3000 or the stack output `ApiUrl`. */
  baseUrl: string;
  auth: Auth;
  fetch?: typeof fetch;
  /** A number: `{ retries }`. */
  retries?: number | RetryOptions;
  /** Per attempt. Default 35 s (the admin function has 29 s, the gateway 30 s). */
  timeoutMs?: number;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Fixed SigV4 signing time (tests). */
  signingDate?: () => Date;
}

/**
 * Which failures are retried, per kind of call. Only calls that are safe to repeat are retried,
 * and never on a 4xx other than 429.
 * - `read` (GET), `delete` (DELETE: `204` also when already gone) and `sync` (POST recall-sync:
 *   brings Recall to one target state) are idempotent: retried on network errors, 5xx and 429.
 *   A `502` carrying the service's `recall_error`/`zoom_error` is not: the service already retried
 *   the upstream within its own time budget; repeating that is the caller's decision.
 * - `put` (PUT zoom-credential): also retried, because the API treats a replayed PUT as idempotent
 *   — a PUT whose refresh token the service already holds or has used writes no tokens and only
 *   completes the Recall step (docs/admin-api.md, "What a PUT does"). But only where the first attempt
 *   certainly or probably did nothing: network errors, 429, 503 and 504.
 */
type CallKind = 'read' | 'delete' | 'sync' | 'put';

interface Call {
  kind: CallKind;
  method: string;
  /** Path and query, already encoded. */
  path: string;
  /** Route for messages, e.g. "GET /users/alice/zoom-credential". */
  label: string;
  body?: unknown;
}

interface Answer {
  status: number;
  json: unknown;
}

const DEFAULT_RETRY: Required<RetryOptions> = { retries: 3, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 30_000 };

const credentialPath = (userId: string) => `/users/${encodeURIComponent(userId)}/zoom-credential`;

export class ZoomTokenVaultClient {
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly authorize: RequestSigner;

  constructor(options: ClientOptions) {
    if (!/^https?:\/\//.test(options.baseUrl)) throw new TypeError('baseUrl must be an http(s) URL');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
    const retry = typeof options.retries === 'number' ? { retries: options.retries } : (options.retries ?? {});
    this.retry = { ...DEFAULT_RETRY, ...retry };
    if (!Number.isInteger(this.retry.retries) || this.retry.retries < 0) throw new TypeError('retries must be a non-negative integer');
    this.timeoutMs = options.timeoutMs ?? 35_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    const auth = options.auth;
    if (auth.kind === 'bearer') {
      if (!auth.token) throw new TypeError('auth.token is required for bearer auth');
      this.authorize = async ({ headers }) => ({ ...headers, authorization: `Bearer ${auth.token}` });
    } else if (auth.kind === 'sigv4') {
      if (!auth.region) throw new TypeError('auth.region is required for SigV4');
      this.authorize = sigV4Signer({ region: auth.region, credentials: auth.credentials, signingDate: options.signingDate });
    } else {
      throw new TypeError('auth.kind must be "bearer" or "sigv4"');
    }
  }

  /** Stores a user's Zoom tokens and makes sure Recall has the user's credential. `created`: first registration. */
  async register(userId: string, zoomTokenResponse: ZoomTokenResponse): Promise<{ created: boolean; user: UserStatus }> {
    const path = credentialPath(userId);
    const answer = await this.call({ kind: 'put', method: 'PUT', path, label: `PUT ${path}`, body: zoomTokenResponse });
    return { created: answer.status === 201, user: answer.json as UserStatus };
  }

  /** The user's status and what the grant can mint (never a token). NotFoundError for an unknown user. */
  async get(userId: string): Promise<UserDetail> {
    const path = credentialPath(userId);
    return (await this.call({ kind: 'read', method: 'GET', path, label: `GET ${path}` })).json as UserDetail;
  }

  /**
   * Signed bot-token URLs for one Zoom meeting (`kinds` default `['obf']`, valid a day unless
   * `validForSeconds`, 60 s to 7 days). Pass `zoom` as it is in Recall's Create Bot request.
   * ReauthRequiredError (dead grant), MissingScopeError (a kind's scope not granted), ValidationError.
   */
  async botTokenUrls(
    userId: string,
    options: { meetingId: string; kinds?: BotTokenKind[]; validForSeconds?: number },
  ): Promise<BotTokenUrls> {
    const path = `${credentialPath(userId)}/bot-token-urls`;
    const body = {
      meeting_id: options.meetingId,
      ...(options.kinds ? { kinds: options.kinds } : {}),
      ...(options.validForSeconds !== undefined ? { valid_for_seconds: options.validForSeconds } : {}),
    };
    // Issuing URLs changes nothing stored: as safe to repeat as a read.
    const json = (await this.call({ kind: 'read', method: 'POST', path, label: `POST ${path}`, body })).json as {
      zoom: BotTokenUrls['zoom'];
      expires_at: string;
    };
    return { zoom: json.zoom, expiresAt: json.expires_at };
  }

  /** A fresh access token for your own Zoom API calls. ReauthRequiredError, TokenUnavailableError. */
  async accessToken(userId: string): Promise<AccessToken> {
    const path = `${credentialPath(userId)}/access-token`;
    const json = (await this.call({ kind: 'read', method: 'GET', path, label: `GET ${path}` })).json as {
      access_token: string;
      expires_at: string;
    };
    return { accessToken: json.access_token, expiresAt: json.expires_at };
  }

  /** Deletes the credential at Recall, then the record. Resolves also when the user was already gone. */
  async delete(userId: string): Promise<void> {
    const path = credentialPath(userId);
    await this.call({ kind: 'delete', method: 'DELETE', path, label: `DELETE ${path}` });
  }

  /** The Recall step alone with the stored tokens (after a signing-key rotation, or when Recall lost the credential). */
  async resync(userId: string): Promise<UserStatus> {
    const path = `${credentialPath(userId)}/recall-sync`;
    return (await this.call({ kind: 'sync', method: 'POST', path, label: `POST ${path}` })).json as UserStatus;
  }

  /**
   * One page of the users in one state: `GET /users?status=&cursor=&limit=` → `{users, next_cursor}`.
   * A page may hold fewer than `limit` users while more follow: go on until `nextCursor` is null.
   */
  async list(options: { status: UserStatusName; cursor?: string | null; limit?: number }): Promise<UserPage> {
    const query = new URLSearchParams({ status: options.status });
    if (options.cursor) query.set('cursor', options.cursor);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const path = `/users?${query}`;
    let answer: Answer;
    try {
      answer = await this.call({ kind: 'read', method: 'GET', path, label: 'GET /users' });
    } catch (error) {
      if (error instanceof NotFoundError && error.code === 'route_not_found') {
        throw new VaultError({
          status: 404,
          code: 'route_not_found',
          message: 'this deployment has no GET /users route (update the stack)',
          request: 'GET /users',
        });
      }
      throw error;
    }
    const json = answer.json as { users?: unknown; next_cursor?: unknown };
    if (!Array.isArray(json?.users))
      throw new VaultError({ status: answer.status, code: 'bad_answer', message: 'the answer has no users array', request: 'GET /users' });
    return {
      users: json.users as UserStatus[],
      nextCursor: typeof json.next_cursor === 'string' && json.next_cursor !== '' ? json.next_cursor : null,
    };
  }

  /**
   * Every user in one state, page after page; without `status`, every user, one state after the
   * other (a user whose state changes meanwhile may be seen twice, or missed).
   */
  async *listAll(options: { status?: UserStatusName; limit?: number } = {}): AsyncGenerator<UserStatus> {
    for (const status of options.status ? [options.status] : USER_STATUS_NAMES) {
      let cursor: string | null = null;
      do {
        const page: UserPage = await this.list({ status, limit: options.limit, cursor });
        yield* page.users;
        if (page.nextCursor !== null && page.nextCursor === cursor)
          throw new VaultError({
            status: 200,
            code: 'bad_answer',
            message: 'the API returned the same cursor twice',
            request: 'GET /users',
          });
        cursor = page.nextCursor;
      } while (cursor !== null);
    }
  }

  private async call(call: Call): Promise<Answer> {
    const url = new URL(this.baseUrl + call.path);
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    for (let attempt = 0; ; attempt++) {
      const headers = await this.authorize({
        method: call.method,
        url,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body,
      });
      let response: Response;
      try {
        response = await this.fetch(url, { method: call.method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (error) {
        // No answer: the request may or may not have been processed; every kind here is safe to repeat.
        if (attempt < this.retry.retries) {
          await this.sleep(this.backoff(attempt));
          continue;
        }
        throw new NetworkError({
          status: 0,
          code: 'network_error',
          message: `no answer (${describeNetworkError(error)})`,
          request: call.label,
          cause: error,
        });
      }
      const text = await response.text().catch(() => '');
      const json = parseJson(text);
      if (response.ok) return { status: response.status, json };
      const error = errorFromResponse(response.status, json as ErrorBody | undefined, call.label);
      const delay =
        attempt < this.retry.retries && retryable(call.kind, response.status, json) ? this.delayFor(response, attempt) : undefined;
      if (delay === undefined) throw error;
      await this.sleep(delay);
    }
  }

  /** How long to wait before the next attempt; undefined: give up (Retry-After beyond the limit). */
  private delayFor(response: Response, attempt: number): number | undefined {
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    if (retryAfter === undefined) return this.backoff(attempt);
    return retryAfter > this.retry.maxRetryAfterMs ? undefined : retryAfter;
  }

  private backoff(attempt: number): number {
    return Math.floor(this.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt));
  }
}

function retryable(kind: CallKind, status: number, json: unknown): boolean {
  if (kind === 'put') return status === 429 || status === 503 || status === 504;
  if (status === 429) return true;
  if (status === 502) {
    // The service's own 502 (recall_error, zoom_error): it already retried the upstream. A bare 502 is the gateway's.
    const code = (json as ErrorBody | undefined)?.error;
    return !(typeof code === 'string' && /_error$/.test(code));
  }
  return status >= 500 && status <= 599;
}

/** Retry-After as seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The kind of failure only (error name and code): never a URL's query, a header or a body. */
function describeNetworkError(error: unknown): string {
  const name = (error as { name?: unknown } | undefined)?.name;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (name === 'TimeoutError') return 'timed out';
  // undici's causes say e.g. "connect ECONNREFUSED 127.0.0.1:3000": a host and port, no request data.
  const detail =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message.slice(0, 120) : undefined;
  return [typeof name === 'string' ? name : 'error', detail].filter(Boolean).join(': ');
}
