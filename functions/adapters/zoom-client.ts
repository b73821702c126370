/**
 * Zoom's OAuth token endpoint, refresh grant only. Exactly one attempt per call: a refresh token
 * is single-use, so whether to try again is the caller's decision, made from whether the token
 * may have been spent (see ZoomRefreshResult). Never throws for HTTP or network failures;
 * results carry no token or secret.
 */
import { parseJsonObject } from '../domain/json';
import type { ZoomRefreshResult, ZoomTokenClient } from '../domain/ports';
import { TIMING } from '../domain/timing';
import { fetchText, parseRetryAfter, sanitize, TimeoutError, withTimeout, type HttpReply } from './http-retry';

export interface ZoomTokenClientConfig {
  /** e.g. https://zoom.us/oauth/token */
  tokenUrl: string;
  clientId: string;
  clientSecret: () => Promise<string> | string;
  /** Per-call timeout unless the call passes its own. Default 8 s. */
  timeoutMs?: number;
  /** The most a client secret read may take (a Secrets Manager call on a cold cache). Default TIMING.secretReadTimeoutMs. */
  secretTimeoutMs?: number;
  now?: () => number;
}

/**
 * Connection errors raised before the request could reach Zoom: the refresh token is intact.
 * Anything else that fails after the request may have gone out is ambiguous.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Zoom's words for a grant that is gone: only the user can fix it, by authorizing again. */
const DEAD_GRANT_ERRORS = new Set(['invalid_grant', '4741', '4735']);
/** Zoom answers a dead (spent, revoked, expired) refresh token with this reason, whatever its error code. */
const DEAD_GRANT_REASONS = new Set(['invalid token!', 'invalid token']);
/** Our client credentials are wrong: an operator must fix the configuration. */
const MISCONFIGURED_ERRORS = new Set(['invalid_client', 'unauthorized_client']);

type Fields = { error?: string; reason?: string; code?: string };

/**
 * Every Zoom answer, classified. First matching row wins; docs/refresh-and-grant-safety.md lists the same rows.
 * A row's `when` sees the status and the answer's error fields (sanitized, lower-cased).
 */
export const ZOOM_ANSWER_TABLE: ReadonlyArray<{
  when: (status: number, f: Fields) => boolean;
  kind: ZoomRefreshResult['kind'];
  answer: string;
}> = [
  { answer: '2xx with access and refresh token', when: (s) => s >= 200 && s < 300, kind: 'ok' },
  // A gateway's answer: the request may have reached Zoom behind it, and Zoom refreshed.
  { answer: '502 or 504 (a gateway: Zoom may have refreshed behind it)', when: (s) => s === 502 || s === 504, kind: 'ambiguous' },
  { answer: '408, 429 or another 5xx', when: (s) => s === 408 || s === 429 || s >= 500, kind: 'retryable' },
  {
    answer: '400/401 with error, code or reason naming a dead grant (invalid_grant, 4741, 4735, "Invalid Token!")',
    when: (s, f) => (s === 400 || s === 401) && isDeadGrant(f),
    kind: 'grant_dead',
  },
  { answer: '400/401 with invalid_client or unauthorized_client, and every other 3xx/4xx', when: () => true, kind: 'misconfigured' },
];

function isDeadGrant(f: Fields): boolean {
  return (
    [f.error, f.code].some((value) => value !== undefined && DEAD_GRANT_ERRORS.has(value)) ||
    (f.reason !== undefined && DEAD_GRANT_REASONS.has(f.reason) && !MISCONFIGURED_ERRORS.has(f.error ?? ''))
  );
}

export function createZoomTokenClient(config: ZoomTokenClientConfig): ZoomTokenClient {
  const now = config.now ?? Date.now;
  const secretTimeoutMs = config.secretTimeoutMs ?? TIMING.secretReadTimeoutMs;
  const readSecret = () =>
    withTimeout(async () => config.clientSecret(), secretTimeoutMs).catch(() => {
      throw new Error('Zoom client secret unavailable');
    });
  return {
    async ready() {
      await readSecret();
    },
    async refresh(refreshToken, options) {
      const timeoutMs = options?.timeoutMs ?? config.timeoutMs ?? 8_000;
      let secret: string | undefined;
      try {
        // One clock for the whole call, the secret read included: it never outlasts `timeoutMs`.
        const reply = await withTimeout(async (signal) => {
          secret = await readSecret();
          return fetchText(config.tokenUrl, refreshRequest(config.clientId, secret, refreshToken), signal);
        }, timeoutMs);
        return classify(reply, [refreshToken, secret], now());
      } catch (error) {
        // Nothing was sent, so the refresh token is intact and a later try is safe.
        if (secret === undefined) return { kind: 'retryable', error: 'client_secret_unavailable' };
        if (error instanceof TimeoutError) return { kind: 'ambiguous', error: 'timeout' };
        return notSent(error) ? { kind: 'retryable', error: 'connection_failed' } : { kind: 'ambiguous', error: 'connection_lost' };
      }
    },
  };
}

function refreshRequest(clientId: string, secret: string, refreshToken: string): RequestInit {
  return {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  };
}

function notSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } })?.cause;
  return cause?.code !== undefined && NOT_SENT_CODES.has(cause.code);
}

function classify(reply: HttpReply, secrets: Array<string | undefined>, now: number): ZoomRefreshResult {
  const { status } = reply;
  const json = parseJsonObject(reply.body);
  const field = (key: string, maxLength = 100) => {
    const value = json?.[key];
    return typeof value === 'string' || typeof value === 'number' ? sanitize(String(value), secrets, maxLength) : undefined;
  };
  const fields: Fields = { error: field('error')?.toLowerCase(), reason: field('reason', 200)?.toLowerCase(), code: field('code') };
  const kind = ZOOM_ANSWER_TABLE.find((row) => row.when(status, fields))!.kind;
  const error = field('error') ?? field('code');
  const reason = field('reason', 200) ?? field('message', 200);
  switch (kind) {
    case 'ok':
      return success(json, status);
    case 'retryable': {
      const retryAfterMs = parseRetryAfter(reply.headers.get('retry-after'), now);
      return { kind, status, error: error ?? `http_${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    case 'grant_dead':
      return { kind, error: error ?? 'invalid_grant', ...(reason ? { reason } : {}) };
    case 'ambiguous':
      return { kind, status, error: error ?? `http_${status}` };
    default:
      return { kind: 'misconfigured', status, error: error ?? `http_${status}`, ...(reason ? { reason } : {}) };
  }
}

/**
 * A 2xx carrying an access and a refresh token is always a success, whatever else is missing:
 * the old refresh token is spent, and this answer is the grant now. Without both tokens the
 * token may still have been spent: ambiguous.
 */
function success(json: Record<string, unknown> | undefined, status: number): ZoomRefreshResult {
  const { access_token: accessToken, refresh_token: refreshToken, scope } = json ?? {};
  if (!isNonEmpty(accessToken) || !isNonEmpty(refreshToken)) return { kind: 'ambiguous', status, error: 'invalid_response' };
  const expiresIn = typeof json?.expires_in === 'string' || typeof json?.expires_in === 'number' ? Number(json.expires_in) : NaN;
  const tokenExpiresAt = jwtExpiry(accessToken);
  return {
    kind: 'ok',
    tokens: { accessToken, refreshToken, ...(typeof scope === 'string' ? { scope } : {}) },
    ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expiresInSeconds: expiresIn } : {}),
    ...(tokenExpiresAt !== undefined ? { tokenExpiresAt } : {}),
  };
}

/** The `exp` claim of a JWT (Zoom's access tokens are JWTs), in ms; undefined when not one. Not verified: only a hint. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function isNonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
